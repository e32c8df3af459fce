// Turns mesh paths (files or folders) into a validated MeshModel, or into the complete list
// of problems. Never throws on bad input and never returns a half-valid model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compare, MeshModel, resourceKey, resourceLabel, type Resource } from '../model/mesh-model';
import { mergeDeclarations, ReferenceCheckCache, validateReferences, type ModelIssue } from '../model/validate';
import { appendAll } from './append-all';
import { readAwsCliDocument } from './aws-cli-json';
import { CLOUD_MAP_SEED_KIND, readCloudMapSeed, type LocatedSeed } from './cloud-map-seed';
import type { CloudFormationOptions } from './cloudformation/stack-inputs';
import { readCloudFormationTemplates, TemplateReadCache } from './cloudformation/template';
import { detectDialect, listItems } from './dialects';
import { K8sReadCache, k8sObjectOf, namespaceObjectOf, readK8sObjects, type K8sObject } from './k8s-manifest';
import { readNativeDocument } from './native';
import { RolloutReader, type DeclaredRollout } from './rollout-doc';
import { readTerraformDocument } from './terraform/show-json';
import { ROLLOUT_KIND } from '../model/rollout';
import type { Origin, WrittenAt } from './origin';
import { inputText, isError, type Problem } from './problems';
import { decodeDraft, draftLabel, ResourceReporter, type DefaultMesh, type ResourceDraft } from './resource-draft';
import { parseYamlDocuments, type FieldPath, type ParsedDocument } from './yaml-documents';

export interface LoadOptions {
  /** The mesh of resources that name none (App Mesh CLI's --mesh-name). */
  readonly meshName?: string;
  /** Kept from one load to the next (`meshd serve`): files and documents that did not change are not read again. */
  readonly cache?: LoadCache;
  /** Fields of Kubernetes manifests that the API server would prune are errors, not warnings (`--strict`). */
  readonly strict?: boolean;
  /** Parameters, pseudo parameters and imports for CloudFormation templates (--parameter, --region, ...). */
  readonly cloudFormation?: CloudFormationOptions;
  /**
   * Files to load as if they held this text (null: as if they were gone), whether or not they exist:
   * the store checks a write by loading the mesh it would make, before writing anything.
   */
  readonly overlay?: ReadonlyMap<string, string | null>;
  /**
   * Mesh paths that hold no mesh file at all are an empty mesh, not an error (`meshd serve`, where
   * the App Mesh API can fill an empty folder); a path that does not exist is still an error.
   */
  readonly noFilesIsEmpty?: boolean;
  /**
   * Files whose resources give way to one of the same key defined in a file this does not match: the
   * shared store's resources, which the user's files win over (`meshd serve --store`). The one given way
   * is left out with a warning, instead of an error for a resource defined twice.
   */
  readonly yields?: (file: string) => boolean;
  /**
   * Paths the watcher saw change (files, or folders: every file under them): read again even
   * when their size, times and inode look as they were (see LoadCache.unchanged).
   */
  readonly changed?: readonly string[];
  /**
   * Set by `meshd serve` without --prometheus-url: a Rollout metric with a `query` is an error of
   * that rollout (there is no Prometheus to ask), so the last good mesh keeps serving.
   */
  readonly noPrometheus?: boolean;
}

/**
 * A file's identity and times as read (a stat of its path just before the read, of the same inode
 * as the descriptor read). A file whose stat shows the same again holds the same text, unless it
 * was written within the same tick of the file system's clock as the read: see LoadCache.unchanged.
 */
export interface FilePrint {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** A write always moves it, and unlike mtime no one can set it back (`cp -p`, `touch -r`, rsync -t). */
  readonly ctimeMs: number;
}

/**
 * A file changed this long (or less) before it was read may be written again with the same size in
 * the same tick of the file system's clock (coarse: a jiffy on Linux, 1 s on ext3 and HFS+, 2 s on
 * FAT): its stat alone cannot tell, so it is read again until a read comes later than this.
 */
export const RACY_FILE_MS = 3_000;

function statFile(file: string): fs.Stats | undefined {
  return fs.statSync(file, { throwIfNoEntry: false });
}

function printOf(st: fs.Stats): FilePrint {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

function samePrint(a: FilePrint, b: FilePrint): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/**
 * What a load can reuse in the next (`meshd serve` keeps one from load to load), in every dialect:
 * each file's parsed documents while its text is the same; what each document reads to (drafts,
 * Cloud Map seeds, Kubernetes objects, and its findings); the resource decoded from a draft while
 * the draft and the default mesh are the same; what a Kubernetes manifest or a CloudFormation
 * template reads to while what it looked at is the same; each resource's cross-reference
 * findings while its look-ups answer the same; and the last model, which the next shares its
 * unchanged parts with. Besides the time, this keeps an unchanged resource the same object from
 * one model to the next, which is how the controller sees what a reload changed (MeshModel.changedKeys).
 */
export class LoadCache {
  readonly files = new Map<
    string,
    {
      readonly text: string;
      readonly parsed: ReturnType<typeof parseYamlDocuments>;
      /** The stat before a read made well after the file's last change (RACY_FILE_MS): trusted while it shows again. */
      readonly print?: FilePrint;
    }
  >();
  readonly documents = new WeakMap<ParsedDocument, DocumentRead>();
  /** What a file's documents read to, together (by the array of its parsed documents). */
  readonly fileReads = new WeakMap<readonly ParsedDocument[], DocumentRead>();
  readonly decoded = new WeakMap<
    ResourceDraft,
    { readonly defaultMesh: string; readonly strict: boolean; readonly resource: Resource }
  >();
  readonly k8s = new K8sReadCache();
  readonly templates = new TemplateReadCache();
  readonly references = new ReferenceCheckCache();
  /** The draft each resource of the model was decoded from (or, reused, last found the same as). */
  readonly draftOf = new WeakMap<Resource, ResourceDraft>();
  /**
   * Documents of one file alike in where each starts (line and column), from one text of the file to
   * the next (sameDocumentStarts): a resource of the same document has the same source in both.
   */
  private readonly layouts = new WeakMap<ParsedDocument, number>();
  private nextLayout = 0;
  /** The model of the last load without errors: the next model shares what did not change with it. */
  model: MeshModel | undefined;

  /**
   * `stat`: a file's stat by its path (through links); fs.statSync unless a test stands in
   * for a file system whose clock is coarse.
   */
  constructor(private readonly stat: (file: string) => fs.Stats | undefined = statFile) {}

  /** `print`: the file's stat just before its text was read from disk (none for a text given in an overlay). */
  parse(file: string, text: string, print?: FilePrint): ReturnType<typeof parseYamlDocuments> {
    const known = this.files.get(file);
    const parsed = known?.text === text ? known.parsed : parseYamlDocuments(file, text);
    if (known?.parsed !== parsed) {
      const before = known?.parsed.documents;
      const layout =
        before?.[0] !== undefined && before.length === parsed.documents.length && sameDocumentStarts(known!.text, text)
          ? this.layouts.get(before[0])!
          : this.nextLayout++;
      for (const doc of parsed.documents) this.layouts.set(doc, layout);
    }
    if (known?.parsed !== parsed || known.print !== print)
      this.files.set(file, { text, parsed, ...(print ? { print } : {}) });
    return parsed;
  }

  /**
   * The parsed text of a file that has not changed since it was read: its stat shows the same
   * inode, size and times, and that read came after the file's last change (RACY_FILE_MS).
   * Undefined when it must be read (any doubt, a stat that fails).
   */
  unchanged(file: string): ReturnType<typeof parseYamlDocuments> | undefined {
    const known = this.files.get(file);
    if (!known?.print) return undefined;
    const now = this.printNow(file);
    return now && samePrint(known.print, now) ? known.parsed : undefined;
  }

  /**
   * The file's print before a read, if it has settled: changed more than RACY_FILE_MS before now.
   * A later write changes the print (a write in the same tick as one before this is older than that).
   */
  settledPrint(file: string): FilePrint | undefined {
    const readAt = Date.now();
    const print = this.printNow(file);
    return print && Math.max(print.mtimeMs, print.ctimeMs) < readAt - RACY_FILE_MS ? print : undefined;
  }

  private printNow(file: string): FilePrint | undefined {
    try {
      const st = this.stat(file);
      return st?.isFile() ? printOf(st) : undefined;
    } catch {
      return undefined; // the read says why
    }
  }

  /**
   * Whether a resource decoded from `draft` is where the one decoded from `before` is: both the whole
   * of the same document of the same file, in texts alike in where their documents start. False when unsure.
   */
  sameSource(before: ResourceDraft, draft: ResourceDraft): boolean {
    if (before === draft) return true;
    const [a, b] = [before.origin, draft.origin];
    if (!a.isWholeDocument || !b.isWholeDocument) return false;
    const [da, db] = [a.document, b.document];
    const layout = this.layouts.get(da);
    return (
      da.file === db.file &&
      da.place.document === db.place.document &&
      layout !== undefined &&
      layout === this.layouts.get(db)
    );
  }

  /** Forgets files that are no longer part of the mesh. */
  keepOnly(files: readonly string[]): void {
    const listed = new Set(files);
    for (const file of this.files.keys()) if (!listed.has(file)) this.files.delete(file);
  }
}

/** What one document reads to, on its own (the documents' dialects then come together). */
interface DocumentRead {
  readonly problems: Problem[];
  readonly drafts: ResourceDraft[];
  readonly seeds: LocatedSeed[];
  readonly k8sObjects: K8sObject[];
  readonly templates: ParsedDocument[];
  readonly rollouts: ParsedDocument[];
}

/** Problems include warnings and info lines; `ok` is false only when there is an error. */
export type LoadResult =
  | {
      readonly ok: true;
      readonly model: MeshModel;
      /** `kind: CloudMapService` documents: instances for the local Cloud Map registry. */
      readonly cloudMapSeeds: readonly LocatedSeed[];
      /** `kind: Rollout` documents, checked against the model. */
      readonly rollouts: readonly DeclaredRollout[];
      /** Where a field of one of the model's resources is written (for the rollout controller's in-place edits). */
      whereWritten(resource: Resource, path: FieldPath): WrittenAt | undefined;
      readonly problems: readonly Problem[];
      readonly files: readonly string[];
    }
  | {
      readonly ok: false;
      readonly problems: readonly Problem[];
      readonly files: readonly string[];
      /**
       * A file or folder could not be read for a reason that passes (out
       * of file descriptors, memory): loading again later may succeed.
       */
      readonly retry?: boolean;
    };

/** Errors of the moment, not of the files: EMFILE while meshd holds many connections, say. */
const PASSING_ERRORS = new Set(['EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM', 'EINTR', 'EBUSY']);

function isPassing(err: unknown): boolean {
  return PASSING_ERRORS.has(String((err as NodeJS.ErrnoException | undefined)?.code));
}

export const MESH_FILE_EXTENSIONS = ['.yaml', '.yml', '.json'];

export function isMeshFile(file: string): boolean {
  return MESH_FILE_EXTENSIONS.includes(path.extname(file).toLowerCase()) && !path.basename(file).startsWith('.');
}

const at = (file: string) => ({ file, line: 1, col: 1 });

/**
 * The mesh files under the given paths, sorted, and a finding for each path that cannot be
 * read (missing, unreadable, a symbolic link to nothing). Symbolic links are followed, as a
 * Kubernetes ConfigMap mount or a git-sync checkout needs, but each folder (device and inode) is listed once, under
 * the first path that reaches it: a link back up the tree is skipped with a warning, not walked forever.
 */
export function listMeshFiles(paths: readonly string[]): { files: string[]; problems: Problem[]; retry: boolean } {
  const files = new Set<string>();
  const problems: Problem[] = [];
  let retry = false;
  const finding = (severity: Problem['severity'], file: string, message: string) =>
    problems.push({ severity, location: at(file), message });
  // A folder's device and inode → the path it was listed under. Not its real path: realpath(3) looks at
  // every component of the path, which made a listing quadratic in the depth of the folders.
  const listedAt = new Map<string, string>();
  /** Lists a folder and everything under it; iterative, so that no depth of folders can overflow the stack. */
  const walk = (root: string) => {
    const pending = [root];
    while (pending.length > 0) {
      const dir = pending.pop()!;
      let entries: fs.Dirent[];
      try {
        const st = fs.statSync(dir);
        const folder = `${st.dev}:${st.ino}`;
        const first = listedAt.get(folder);
        if (first !== undefined) {
          finding('warning', dir, `skipped: the same folder as ${first} (through a symbolic link)`);
          continue;
        }
        listedAt.set(folder, dir);
        entries = fs.readdirSync(dir, { withFileTypes: true });
      } catch (err) {
        finding('error', dir, `cannot list folder: ${fsErrorText(err)}`);
        retry ||= isPassing(err);
        continue;
      }
      const folders: string[] = [];
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue; // `.meshd/` holds the Cloud Map registry; dot files are no mesh files
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) folders.push(full);
        else if (entry.isFile()) {
          if (isMeshFile(full)) files.add(full);
        } else if (entry.isSymbolicLink()) {
          let target: fs.Stats;
          try {
            target = fs.statSync(full);
          } catch (err) {
            retry ||= isPassing(err);
            // A mesh file that points nowhere is a mesh file missing; another name may have been a folder.
            finding(
              isMeshFile(full) ? 'error' : 'warning',
              full,
              `${isMeshFile(full) ? 'cannot read' : 'skipped'}: symbolic link that cannot be followed: ${fsErrorText(err)}`,
            );
            continue;
          }
          if (target.isDirectory()) folders.push(full);
          else if (target.isFile() && isMeshFile(full)) files.add(full);
        }
      }
      // Pushed in reverse so that folders are listed in name order: the first path to a folder is a stable one.
      folders.sort(compare).reverse();
      appendAll(pending, folders);
    }
  };
  for (const p of paths) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      retry ||= isPassing(err);
      finding(
        'error',
        p,
        code === 'ENOENT'
          ? 'mesh path does not exist; pass a mesh file or a folder of them'
          : `cannot read mesh path: ${fsErrorText(err)}`,
      );
      continue;
    }
    if (stat.isDirectory()) walk(p);
    else files.add(p);
  }
  return { files: [...files].sort(), problems, retry };
}

/** A file-system error in one line: Node's message already names the code, the call and the path. */
export function fsErrorText(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message.split('\n')[0]! : String(err);
}

/**
 * Mesh files are read and parsed whole, on the event loop, at about 30 times their size in
 * memory: past this size a file is refused instead (a real mesh is kilobytes per file; the
 * 5,000-resource benchmark mesh is 50 files of about 100 KB).
 */
export const MAX_MESH_FILE_BYTES = 16 * 1024 * 1024;

/**
 * A mesh file's text, or why it is refused: not a regular file (a FIFO would block the read
 * for ever), or larger than MAX_MESH_FILE_BYTES. Opened without blocking and checked on the
 * open descriptor, so a file swapped after the listing is judged as what is read.
 */
function readMeshFile(file: string): { text: string; readonly stat?: fs.Stats } | { refused: string } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return { refused: 'not a regular file; a mesh file must be a file' };
    if (stat.size > MAX_MESH_FILE_BYTES)
      return {
        refused: `file is ${stat.size} bytes; a mesh file may be at most ${MAX_MESH_FILE_BYTES} bytes (split the mesh over several files)`,
      };
    return { text: fs.readFileSync(fd, 'utf8'), stat };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads, decodes and validates every mesh file under `paths`. */
export function loadMesh(paths: readonly string[], options: LoadOptions = {}): LoadResult {
  const listed = listMeshFiles(paths);
  const { problems, retry } = listed;
  const overlay = options.overlay ?? new Map<string, string | null>();
  const files = [...new Set([...listed.files, ...overlay.keys()])].filter((f) => overlay.get(f) !== null).sort(compare);
  let passingError = retry;
  const documents: ParsedDocument[] = [];
  const byFile: (readonly ParsedDocument[])[] = [];
  const reported = reportedChanged(options.changed);
  for (const file of files) {
    const given = overlay.get(file);
    const kept = given === undefined && !reported(file) ? options.cache?.unchanged(file) : undefined;
    let parsed: ReturnType<typeof parseYamlDocuments>;
    if (kept) parsed = kept;
    else {
      let read: ReturnType<typeof readMeshFile>;
      // Taken before the read: whatever changes the file after it changes its print.
      let print = given === undefined ? options.cache?.settledPrint(file) : undefined;
      try {
        read = given !== undefined && given !== null ? { text: given } : readMeshFile(file);
        if ('refused' in read) {
          problems.push({ severity: 'error', location: at(file), message: read.refused });
          continue;
        }
      } catch (err) {
        problems.push({ severity: 'error', location: at(file), message: `cannot read file: ${fsErrorText(err)}` });
        passingError ||= isPassing(err);
        continue;
      }
      // The path swapped for another file between the stat and the open: that print is not of the text read.
      if (print && (read.stat?.ino !== print.ino || read.stat?.dev !== print.dev)) print = undefined;
      parsed = options.cache ? options.cache.parse(file, read.text, print) : parseYamlDocuments(file, read.text);
    }
    appendAll(problems, parsed.problems);
    appendAll(documents, parsed.documents);
    byFile.push(parsed.documents);
  }
  options.cache?.keepOnly(files);
  if (files.length === 0 && problems.length === 0 && !options.noFilesIsEmpty) {
    problems.push({
      severity: 'error',
      location: at(paths.join(', ')),
      message: `no mesh files (${MESH_FILE_EXTENSIONS.join(', ')}) found`,
    });
  }
  const result = withEmptyMeshWarning(loadDocuments(documents, problems, files, options, byFile), paths);
  return result.ok || !passingError ? result : { ...result, retry: true };
}

/** A path path.resolve would give back as it is (a listed file, most often): resolving each of thousands costs. */
function isResolved(file: string): boolean {
  return (
    path.sep === '/' && file.startsWith('/') && !file.includes('/.') && !file.includes('//') && !file.endsWith('/')
  );
}

/** Whether the watcher reported a file (or a folder it is in) as changed. */
function reportedChanged(changed: readonly string[] | undefined): (file: string) => boolean {
  if (!changed || changed.length === 0) return () => false;
  const paths = changed.map((p) => path.resolve(p));
  const exact = new Set(paths);
  return (file) => {
    const full = isResolved(file) ? file : path.resolve(file);
    return exact.has(full) || paths.some((p) => full.startsWith(p.endsWith(path.sep) ? p : p + path.sep));
  };
}

/**
 * A valid mesh of no resources is legal (a folder waiting for its files) but most likely a
 * mistake: every proxy would wait for configuration. One warning names the paths.
 */
function withEmptyMeshWarning(result: LoadResult, paths: readonly string[]): LoadResult {
  if (!result.ok || result.model.resources.length > 0) return result;
  const files = result.files.length === 1 ? 'its file defines' : `its ${result.files.length} files define`;
  const message =
    result.files.length === 0
      ? `the mesh is empty: there are no mesh files (${MESH_FILE_EXTENSIONS.join(', ')}) yet, so no proxy gets any configuration until files or App Mesh API calls add resources`
      : `the mesh is empty: ${files} no App Mesh resources (Mesh, VirtualNode, ...), so no proxy gets any configuration`;
  const warning: Problem = { severity: 'warning', location: at(paths.join(', ')), message };
  return { ...result, problems: [...result.problems, warning] };
}

/** Decodes parsed documents of any dialect into a model (see loadMesh). */
export function loadDocuments(
  documents: readonly ParsedDocument[],
  problems: Problem[],
  files: readonly string[],
  options: LoadOptions = {},
  /** The same documents, file by file (each file's array as parsed): a file's reading is then kept whole. */
  byFile: readonly (readonly ParsedDocument[])[] = [documents],
): LoadResult {
  const rolloutReader = new RolloutReader(problems, { noPrometheus: options.noPrometheus === true });
  const { drafts, seeds } = readDrafts(byFile, problems, rolloutReader, options);
  const defaultMesh = chooseDefaultMesh(drafts, options);

  const resources: Resource[] = [];
  const originOf = new Map<Resource, Origin>();
  const broken = new Set<string>();
  for (const draft of drafts) {
    const resource = decodeCached(draft, defaultMesh, problems, options);
    if (resource) {
      resources.push(resource);
      originOf.set(resource, draft.origin);
    } else {
      // Remembered so that references to it are not reported as "not defined" on top of its own errors.
      const mesh = draft.kind === 'Mesh' ? draft.name : typeof draft.mesh === 'string' ? draft.mesh : defaultMesh.name;
      // as resourceKey() would have it
      broken.add(`${inputText(mesh)}/${draftLabel(draft.kind, draft.parent, draft.name)}`);
    }
  }

  const report = (issue: ModelIssue) =>
    new ResourceReporter(originOf.get(issue.resource)!, problems, resourceLabel(issue.resource)).report(
      issue.severity,
      issue.path,
      issue.message,
    );
  const complete = broken.size === 0 && !problems.some(isError);
  const yielded = options.yields ? giveWay(resources, options.yields) : { resources, issues: [] };
  yielded.issues.forEach(report);
  const declared = mergeDeclarations(yielded.resources);
  declared.issues.forEach(report);
  const model = new MeshModel(declared.resources, options.cache?.model);
  validateReferences(model, broken, complete, options.cache?.references).forEach(report);
  const rollouts = rolloutReader.resolve(model, defaultMesh, broken);

  const sorted = sortProblems(problems);
  if (sorted.some(isError)) return { ok: false, problems: sorted, files };
  // The next load shares with the last model served (a failed load's is not).
  if (options.cache) options.cache.model = model;
  return {
    ok: true,
    model,
    cloudMapSeeds: seeds,
    rollouts,
    whereWritten: (resource, path) => originOf.get(resource)?.whereWritten(path),
    problems: sorted,
    files,
  };
}

/**
 * The resources without those of a yielding file whose key a resource of another file holds (the
 * user's files win over the shared store), and a warning for each left out.
 */
function giveWay(
  resources: readonly Resource[],
  yields: (file: string) => boolean,
): { resources: Resource[]; issues: ModelIssue[] } {
  const held = new Map<string, Resource>();
  for (const r of resources) if (!yields(r.source.file) && !held.has(resourceKey(r))) held.set(resourceKey(r), r);
  const issues: ModelIssue[] = [];
  const kept = resources.filter((r) => {
    const winner = yields(r.source.file) ? held.get(resourceKey(r)) : undefined;
    if (!winner) return true;
    issues.push({
      severity: 'warning',
      resource: r,
      path: ['name'],
      message: `also defined in ${winner.source.file}:${winner.source.line}, which wins: this definition is not served, and the resource is read-only through the API`,
    });
    return false;
  });
  return { resources: kept, issues };
}

/**
 * A draft's resource: the one decoded last time from the same draft (a document that did not
 * change reads to the same draft) with the same default mesh, if it decoded with no findings.
 */
function decodeCached(
  draft: ResourceDraft,
  defaultMesh: DefaultMesh,
  problems: Problem[],
  { cache, strict = false }: LoadOptions,
): Resource | undefined {
  if (!cache || draft.rejected) return decodeDraft(draft, defaultMesh, problems, { strict });
  const meshKey = defaultMesh.name ?? `\0${defaultMesh.whyNone}`;
  const known = cache.decoded.get(draft);
  if (known?.defaultMesh === meshKey && known.strict === strict) return known.resource;
  const before = problems.length;
  let resource = decodeDraft(draft, defaultMesh, problems, { strict });
  if (!resource || problems.length !== before) return resource;
  // A draft read again (its document changed, or a Kubernetes manifest it refers to did) often
  // decodes to what it was: then it is the same object, so that nothing downstream sees a change.
  const previous = cache.model?.resourceAt(resourceKey(resource));
  if (previous && sameResource(previous, resource, draft, cache)) resource = previous;
  cache.decoded.set(draft, { defaultMesh: meshKey, strict, resource });
  cache.draftOf.set(resource, draft);
  return resource;
}

/**
 * sameValue of two resources, their sources last: compared without finding them (which builds the
 * file's syntax tree) when both are the whole of one document that did not move (LoadCache.sameSource).
 */
function sameResource(previous: Resource, resource: Resource, draft: ResourceDraft, cache: LoadCache): boolean {
  if (!sameValue(previous, resource, 'source')) return false;
  const before = cache.draftOf.get(previous);
  return (before !== undefined && cache.sameSource(before, draft)) || sameValue(previous.source, resource.source);
}

/**
 * Whether every document of the text `after` starts (its content: line and column) where the same
 * document of `before` does: the texts differ in one run of lines, with as many line breaks in
 * each, that are no document markers and come after the first line of content of their document.
 * False when unsure (a document's first line of content with a tag or an anchor, which may stand
 * before its node).
 */
export function sameDocumentStarts(before: string, after: string): boolean {
  if (before === after) return true;
  const shortest = Math.min(before.length, after.length);
  let p = 0;
  while (p < shortest && before.charCodeAt(p) === after.charCodeAt(p)) p++;
  let q = 0;
  while (q < shortest - p && before.charCodeAt(before.length - 1 - q) === after.charCodeAt(after.length - 1 - q)) q++;
  const breaks = lineBreaks(before, p, before.length - q);
  if (breaks !== lineBreaks(after, p, after.length - q)) return false;
  const first = lineBreaks(before, 0, p);
  return changesAfterStarts(before, first, first + breaks) && changesAfterStarts(after, first, first + breaks);
}

function lineBreaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let at = text.indexOf('\n', from); at !== -1 && at < to; at = text.indexOf('\n', at + 1)) n++;
  return n;
}

/** Whether lines first..last (from 0) of a YAML text each come after the first line of content of their document. */
function changesAfterStarts(text: string, first: number, last: number): boolean {
  let started = false;
  let unsure = false;
  let startLine = -1;
  let at = 0;
  for (let line = 0; line <= last; line++) {
    const end = text.indexOf('\n', at);
    const content = text.slice(at, end === -1 ? text.length : end);
    const marker = /^(?:---|\.\.\.)(?:\s|$)/.test(content);
    const rest = (marker ? content.slice(3) : content).trim();
    if (marker) started = false;
    if (
      !started &&
      rest !== '' &&
      !rest.startsWith('#') &&
      !(marker && content.startsWith('...')) &&
      !(!marker && rest.startsWith('%'))
    ) {
      started = true;
      startLine = line;
      unsure = rest.startsWith('!') || rest.startsWith('&');
    }
    if (line >= first && (marker || !started || unsure || line <= startLine)) return false;
    if (end === -1) break;
    at = end + 1;
  }
  return true;
}

/**
 * Deep equality of decoded values (plain objects, arrays and primitives; keys in any order);
 * `skip`: a key of the outermost object left out of the comparison.
 */
function sameValue(a: unknown, b: unknown, skip?: string): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  // Decoded values are as deep as the schema: this recursion is bounded.
  return ka.every((k) => k === skip || (Object.hasOwn(rb, k) && sameValue(ra[k], rb[k])));
}

function readDrafts(
  byFile: readonly (readonly ParsedDocument[])[],
  problems: Problem[],
  rollouts: RolloutReader,
  options: LoadOptions,
): { drafts: ResourceDraft[]; seeds: LocatedSeed[] } {
  const drafts: ResourceDraft[] = [];
  const seeds = new Map<string, LocatedSeed>();
  const k8sObjects: K8sObject[] = [];
  const templates: ParsedDocument[] = [];
  const addSeed = (seed: LocatedSeed) => {
    const key = `${seed.seed.namespace}/${seed.seed.service}`;
    const first = seeds.get(key);
    if (first) {
      const at = first.locate([]);
      problems.push({
        severity: 'error',
        location: seed.locate(['name']),
        resource: seed.label,
        message: `service ${key} is already declared at ${at.file}:${at.line}`,
      });
    } else seeds.set(key, seed);
  };
  for (const documents of byFile) {
    // A file's documents, read one by one, then together (their findings are sorted by place later).
    let read = options.cache?.fileReads.get(documents);
    if (!read) {
      read = { problems: [], drafts: [], seeds: [], k8sObjects: [], templates: [], rollouts: [] };
      for (const doc of documents) {
        let one = options.cache?.documents.get(doc);
        if (!one) {
          one = readDocument(doc);
          options.cache?.documents.set(doc, one);
        }
        for (const field of ['problems', 'drafts', 'seeds', 'k8sObjects', 'templates', 'rollouts'] as const)
          appendAll<unknown>(read[field], one[field]);
      }
      options.cache?.fileReads.set(documents, read);
    }
    appendAll(problems, read.problems);
    appendAll(drafts, read.drafts);
    read.seeds.forEach(addSeed);
    appendAll(k8sObjects, read.k8sObjects);
    appendAll(templates, read.templates);
    read.rollouts.forEach((r) => rollouts.add(r));
  }
  appendAll(drafts, readK8sObjects(k8sObjects, problems, options.cache?.k8s));
  const fromTemplates = readCloudFormationTemplates(
    templates,
    problems,
    options.cloudFormation,
    options.cache?.templates,
  );
  appendAll(drafts, fromTemplates.drafts);
  fromTemplates.seeds.forEach(addSeed);
  return { drafts, seeds: [...seeds.values()] };
}

/** What one document reads to by itself: a function of the document alone. */
function readDocument(document: ParsedDocument): DocumentRead {
  const out: DocumentRead = { problems: [], drafts: [], seeds: [], k8sObjects: [], templates: [], rollouts: [] };
  const { problems } = out;
  const read = (doc: ParsedDocument) => {
    switch (detectDialect(doc)) {
      case 'native': {
        if ((doc.value as { kind?: unknown }).kind === CLOUD_MAP_SEED_KIND) {
          const seed = readCloudMapSeed(doc, problems);
          if (seed) out.seeds.push(seed);
          break;
        }
        if ((doc.value as { kind?: unknown }).kind === ROLLOUT_KIND) {
          out.rollouts.push(doc);
          break;
        }
        const draft = readNativeDocument(doc, problems);
        if (draft) out.drafts.push(draft);
        break;
      }
      case 'aws-cli':
        out.drafts.push(readAwsCliDocument(doc, problems));
        break;
      case 'k8s': {
        const object = k8sObjectOf(doc, problems);
        if (object) out.k8sObjects.push(object);
        break;
      }
      case 'terraform': {
        const terraform = readTerraformDocument(doc, problems);
        appendAll(out.drafts, terraform.drafts);
        appendAll(out.seeds, terraform.seeds);
        break;
      }
      case 'k8s-list':
        listItems(doc).forEach(read);
        break;
      case 'cloudformation':
        out.templates.push(doc);
        break;
      case 'k8s-other': {
        const namespace = namespaceObjectOf(doc);
        if (namespace) {
          out.k8sObjects.push(namespace); // its labels decide which mesh its resources belong to
          break;
        }
        const { kind, metadata } = doc.value as { kind?: unknown; metadata?: { name?: unknown } };
        problems.push({
          severity: 'info',
          location: doc.locate([]),
          message: `skipping ${inputText(kind)}/${inputText(metadata?.name ?? '?')}: not an App Mesh resource`,
        });
        break;
      }
      case 'not-a-mapping':
        problems.push({
          severity: 'error',
          location: doc.locate([]),
          message: 'a mesh document must be a mapping with a kind, an App Mesh CLI input or a Kubernetes manifest',
        });
        break;
      case 'unknown':
        problems.push({
          severity: 'error',
          location: doc.locate([]),
          message:
            'not a mesh resource: expected `kind:` (meshd YAML), a name such as `virtualNodeName` (App Mesh CLI JSON), `apiVersion: appmesh.k8s.aws/v1beta2` (Kubernetes) or `Resources:` (CloudFormation)',
        });
        break;
    }
  };
  read(document);
  return out;
}

/** The mesh of resources that name none: --mesh-name, else the only mesh defined. */
function chooseDefaultMesh(drafts: readonly ResourceDraft[], options: LoadOptions): DefaultMesh {
  if (options.meshName !== undefined) return { name: options.meshName };
  const meshes = [
    ...new Set(drafts.filter((d) => d.kind === 'Mesh' && typeof d.name === 'string').map((d) => d.name as string)),
  ].sort(compare);
  if (meshes.length === 1) return { name: meshes[0]! };
  const defined =
    meshes.length === 0 ? 'no mesh is defined' : `${meshes.length} meshes are defined (${meshes.join(', ')})`;
  return { whyNone: `names no mesh and ${defined}; name one here or pass --mesh-name` };
}

function sortProblems(problems: readonly Problem[]): Problem[] {
  return [...problems].sort(
    ({ location: a }, { location: b }) => compare(a.file, b.file) || a.line - b.line || a.col - b.col,
  );
}
