// The filters `meshd render` and `meshd config-dump` share, in the style of `istioctl proxy-config`.
import { CONFIG_SECTIONS } from '../control/render';
import type { FlagSpec } from './args';

export const configFilterFlags: Readonly<Record<'type' | 'name', FlagSpec>> = {
  type: {
    type: 'string',
    metavar: 'section',
    help: `print only this section: ${CONFIG_SECTIONS.join(', ')} (as istioctl proxy-config does)`,
  },
  name: {
    type: 'string',
    metavar: 'resource',
    help: 'print only the resources of this name (an endpoint assignment goes by its cluster name); exit 1 when none has it',
  },
};
