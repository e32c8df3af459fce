// CloudFormation's YAML short forms (`!Sub`, `!GetAtt`, ...) as YAML tags. Each is read as its
// long form, `!Sub x` as `{ "Fn::Sub": x }`, so that the rest of meshd sees one shape whatever the
// template used; positions are found through the tag (yaml-documents.ts, childOf).
import { Type } from 'js-yaml';

/** Short tag → the key of its long form. */
export const SHORT_TAGS: ReadonlyMap<string, string> = new Map([
  ['!Ref', 'Ref'],
  ['!Condition', 'Condition'],
  ...[
    'Base64',
    'Cidr',
    'FindInMap',
    'GetAtt',
    'GetAZs',
    'ImportValue',
    'Join',
    'Select',
    'Split',
    'Sub',
    'Transform',
    'And',
    'Equals',
    'If',
    'Not',
    'Or',
    'Length',
    'ToJsonString',
  ].map((name): [string, string] => [`!${name}`, `Fn::${name}`]),
]);

/** js-yaml types for every short tag, on a scalar, a sequence or a mapping. */
export const SHORT_TAG_TYPES: readonly Type[] = [...SHORT_TAGS].flatMap(([tag, long]) =>
  (['scalar', 'sequence', 'mapping'] as const).map(
    (kind) =>
      new Type(tag, {
        kind,
        // `!Ref` with nothing after it is an empty scalar, which js-yaml hands over as null.
        construct: (data: unknown) => ({ [long]: data === null && kind === 'scalar' ? '' : data }),
      }),
  ),
);
