// What the web console's endpoints read besides the model (admin/http-server.ts ConsoleSources):
// how many meshes have been served, the last load's findings (GET /v1/problems, replaced on
// every load, valid or not) and who hears of a change (GET /v1/events).
import type { Origin } from '../admin/mesh-graph';
import { isK8sVirtualFile } from '../k8s/virtual-files';
import { formatProblem, type Problem } from '../load/problems';

/** A resource's origin for the console: a Kubernetes object's virtual file, a file the App Mesh API owns, or a file. */
export function consoleOriginOf(file: string, isApiFile: (file: string) => boolean): Origin {
  if (isK8sVirtualFile(file)) return 'kubernetes';
  return isApiFile(file) ? 'api' : 'file';
}

export type ConsoleEvent = 'mesh' | 'problems' | 'rollouts';

export interface ProblemsReport {
  readonly generation: number;
  readonly valid: boolean;
  readonly checkedAt: string | null;
  readonly problems: readonly ProblemEntry[];
}

export interface ProblemEntry {
  readonly severity: Problem['severity'];
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly resource: string | null;
  readonly field: string | null;
  readonly message: string;
  /** The line `meshd validate` prints. */
  readonly text: string;
}

export class ConsoleState {
  private meshes = 0;
  private report: ProblemsReport = { generation: 0, valid: false, checkedAt: null, problems: [] };
  private readonly listeners: ((event: ConsoleEvent, generation: number) => void)[] = [];

  /** Meshes served so far. */
  get meshGeneration(): number {
    return this.meshes;
  }

  get problems(): ProblemsReport {
    return this.report;
  }

  /** A load ended: its findings replace the last ones. */
  loaded(problems: readonly Problem[], valid: boolean, at = Date.now()): void {
    this.report = {
      generation: this.report.generation + 1,
      valid,
      checkedAt: new Date(at).toISOString(),
      problems: problems.map(problemEntry),
    };
    this.emit('problems', this.report.generation);
  }

  /** A new mesh is served. */
  served(): void {
    this.meshes++;
    this.emit('mesh', this.meshes);
  }

  /** A rollout changed. */
  rolloutsChanged(): void {
    this.emit('rollouts', 0);
  }

  onChange(listener: (event: ConsoleEvent, generation: number) => void): void {
    this.listeners.push(listener);
  }

  private emit(event: ConsoleEvent, generation: number): void {
    for (const listener of this.listeners) {
      try {
        listener(event, generation);
      } catch {
        // A listener's failure is not the load's.
      }
    }
  }
}

export function problemEntry(p: Problem): ProblemEntry {
  return {
    severity: p.severity,
    file: p.location.file,
    line: p.location.line,
    col: p.location.col,
    resource: p.resource ?? null,
    field: p.field ?? null,
    message: p.message,
    text: formatProblem(p),
  };
}
