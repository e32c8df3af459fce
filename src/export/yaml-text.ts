// YAML text as meshd's loader reads it back: js-yaml's core schema (the loader's), so a string
// that would read as a number or a boolean is quoted, and no anchors or aliases.
import { CORE_SCHEMA, dump } from 'js-yaml';

export function dumpYaml(value: unknown): string {
  return dump(value, { schema: CORE_SCHEMA, noRefs: true, lineWidth: -1, quotingType: "'" });
}
