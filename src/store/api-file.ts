// One file of the App Mesh API's folder: a meshd YAML document (the native dialect, so `meshd
// validate` and `render` read it like any mesh file) holding one resource, its tags and the
// `metadata:` App Mesh shows for it (uid, version, times). One file per resource, so a write is one
// atomic rename and one change in `git diff`.
import { PARENT_FIELD } from '../load/resource-draft';
import type { ParsedDocument } from '../load/yaml-documents';
import { isPlain } from '../model/common';
import { dumpYaml } from '../export/yaml-text';
import type { ResourceKey, SpecJson, Tag } from './types';

/** The metadata kept in the file; times in milliseconds since the epoch. */
export interface ApiMetadata {
  readonly uid: string;
  readonly version: number;
  readonly createdAt: number;
  readonly lastUpdatedAt: number;
}

const HEADER =
  "# Written by meshd's App Mesh API. You may edit it by hand (meshd reloads it and counts a new version);\n" +
  '# move it out of this folder to take the resource back into your own mesh files.\n';

export function apiFileText(key: ResourceKey, spec: SpecJson, tags: readonly Tag[], meta: ApiMetadata): string {
  const parentField = PARENT_FIELD[key.kind];
  const document = {
    kind: key.kind,
    ...(key.kind === 'Mesh' ? {} : { mesh: key.mesh }),
    ...(parentField ? { [parentField]: key.parent } : {}),
    name: key.name,
    spec,
    ...(tags.length > 0 ? { tags: tags.map((t) => ({ key: t.key, value: t.value })) } : {}),
    metadata: {
      uid: meta.uid,
      version: meta.version,
      createdAt: new Date(meta.createdAt).toISOString(),
      lastUpdatedAt: new Date(meta.lastUpdatedAt).toISOString(),
    },
  };
  return HEADER + dumpYaml(document);
}

/** What a loaded API file says beyond its resource: the metadata (when it has a valid one) and the tags. */
export function readApiDocument(doc: ParsedDocument): {
  metadata: ApiMetadata | undefined;
  tags: Tag[];
  spec: SpecJson;
} {
  const value = doc.value as Record<string, unknown>;
  const tags = Array.isArray(value.tags)
    ? value.tags.filter(isPlain).map((t) => ({ key: String(t.key), value: String(t.value) }))
    : [];
  const spec = isPlain(value.spec) ? value.spec : {};
  const m = value.metadata;
  if (!isPlain(m)) return { metadata: undefined, tags, spec };
  const createdAt = Date.parse(String(m.createdAt));
  const lastUpdatedAt = Date.parse(String(m.lastUpdatedAt));
  // The loader checked the shape; a time that does not parse (Feb 30) is taken as no metadata.
  if (typeof m.uid !== 'string' || typeof m.version !== 'number' || isNaN(createdAt) || isNaN(lastUpdatedAt))
    return { metadata: undefined, tags, spec };
  return { metadata: { uid: m.uid, version: m.version, createdAt, lastUpdatedAt }, tags, spec };
}
