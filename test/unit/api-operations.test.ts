// The App Mesh API's operation table (src/api/operations.ts) against the model that
// @aws-sdk/client-app-mesh carries (its schemas: each operation's HTTP method and path, each input
// member's place: a path label, a query parameter or the body, and which are required), so
// the table cannot drift from what the SDK sends. Also: the router finds each operation from its
// own method and path, and every example path with its labels filled in.
import * as path from 'node:path';
import { OPERATIONS, type Location } from '../../src/api/operations';
import { route } from '../../src/api/router';

type Schema = unknown[];
interface SdkOperation {
  readonly method: string;
  readonly path: string;
  readonly members: Record<string, { in: Location; required: boolean }>;
}

/** Every operation of the SDK's schema (`[9, ns, name, {http: [method, path, 200]}, input, output]`). */
function sdkOperations(): Map<string, SdkOperation> {
  const pkg = path.dirname(require.resolve('@aws-sdk/client-app-mesh/package.json'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schemas = require(path.join(pkg, 'dist-cjs/schemas/schemas_0.js')) as Record<string, unknown>;
  const out = new Map<string, SdkOperation>();
  for (const value of Object.values(schemas)) {
    if (!Array.isArray(value) || value[0] !== 9) continue;
    const [, , name, traits, input] = value as [
      number,
      string,
      string,
      { http: [string, string, number] },
      () => Schema,
    ];
    expect(traits.http[2]).toBe(200);
    const [, , , , names, memberSchemas, requiredCount] = input() as [
      number,
      string,
      string,
      number,
      string[],
      unknown[],
      number,
    ];
    const members: SdkOperation['members'] = {};
    names.forEach((member, i) => {
      const s = memberSchemas[i];
      // A member schema is [shape, traits]: traits 1 (bit 0) is httpLabel, an object with httpQuery a query parameter.
      const t = Array.isArray(s) ? s[1] : undefined;
      const where: Location =
        t === 1 ? 'path' : t !== null && typeof t === 'object' && 'httpQuery' in t ? 'query' : 'body';
      members[member] = { in: where, required: i < requiredCount };
    });
    out.set(name, { method: traits.http[0], path: traits.http[1], members });
  }
  return out;
}

describe('the operation table', () => {
  const sdk = sdkOperations();

  it('has the 38 operations of the SDK, no more, no fewer', () => {
    expect(sdk.size).toBe(38);
    expect(OPERATIONS.map((o) => o.name).sort()).toEqual([...sdk.keys()].sort());
  });

  it.each(OPERATIONS.map((o) => [o.name, o] as const))(
    '%s: method, path, and each member where the SDK puts it',
    (name, op) => {
      const model = sdk.get(name)!;
      expect({ method: op.method, path: op.path, members: op.members }).toEqual(model);
    },
  );

  it.each(OPERATIONS.map((o) => [o.name, o] as const))(
    '%s: the router finds it from its method and path',
    (name, op) => {
      const target = op.path.replace(/\{(\w+)\}/g, (_, label: string) => `x-${label}`);
      const routed = route(op.method, target);
      expect(routed.operation.name).toBe(name);
      for (const [label, member] of Object.entries(op.members)) {
        if (member.in === 'path') expect(routed.labels[label as keyof typeof routed.labels]).toBe(`x-${label}`);
      }
    },
  );
});
