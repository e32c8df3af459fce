// The shipped JSON Schema (schema/meshd.schema.json) is generated from the shapes the loader
// checks against: it must be current, accept what the loader accepts and reject what an editor can see is wrong.
import Ajv from 'ajv';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { nativeJsonSchema } from '../../src/load/native-schema';

const SHIPPED = path.join(__dirname, '../../schema/meshd.schema.json');
const validate = new Ajv({ allErrors: true, strict: false }).compile(nativeJsonSchema());

function docs(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => d.toJS());
}

describe('JSON Schema for meshd YAML', () => {
  it('the shipped file is the one the current loader generates (run npm run schema after changing a shape)', () => {
    expect(JSON.parse(fs.readFileSync(SHIPPED, 'utf8'))).toEqual(nativeJsonSchema());
  });

  it('accepts every document of the native fixture and of the quickstart', () => {
    const files = [
      path.join(__dirname, '../fixtures/dialects/native/shop.yaml'),
      path.join(__dirname, '../../examples/quickstart/mesh/mesh.yaml'),
      path.join(__dirname, '../golden/cloud-map/in.yaml'), // kind: CloudMapService too
    ];
    for (const file of files) {
      for (const doc of docs(fs.readFileSync(file, 'utf8'))) {
        expect({ doc, valid: validate(doc), errors: validate.errors }).toEqual({ doc, valid: true, errors: null });
      }
    }
  });

  it.each([
    ['an unknown kind', 'kind: VirtualThing\nname: x\n', '/kind'],
    ['a misspelt field', 'kind: VirtualNode\nmesh: m\nname: n\nspec: { listners: [] }\n', '/spec'],
    [
      'a port out of range',
      'kind: VirtualRouter\nmesh: m\nname: r\nspec: { listeners: [{ portMapping: { port: 70000, protocol: http } }] }\n',
      '/spec/listeners/0/portMapping/port',
    ],
    [
      'two members of a union',
      'kind: VirtualService\nmesh: m\nname: s\nspec: { provider: { virtualNode: { virtualNodeName: a }, virtualRouter: { virtualRouterName: b } } }\n',
      '/spec/provider',
    ],
    ['a route without its router', 'kind: Route\nmesh: m\nname: r\nspec: {}\n', ''],
    ['an unknown CloudMapService field', 'kind: CloudMapService\nnamespace: n\nname: s\ninstance: []\n', ''],
    [
      'a CloudMapService attribute that is a list',
      'kind: CloudMapService\nnamespace: n\nname: s\ninstances: [{ id: a, attributes: { x: [1] } }]\n',
      '/instances/0/attributes/x',
    ],
    [
      'a prefix without a slash',
      'kind: Route\nmesh: m\nvirtualRouter: r\nname: r\nspec: { httpRoute: { match: { prefix: api }, action: { weightedTargets: [{ virtualNode: a, weight: 1 }] } } }\n',
      '/spec/httpRoute/match/prefix',
    ],
  ])('rejects %s', (_title, text, at) => {
    const [doc] = docs(text);
    expect(validate(doc)).toBe(false);
    expect(validate.errors!.map((e) => e.instancePath)).toContain(at);
  });
});
