// The rollouts on the admin API (what `meshd rollout` talks to):
//   GET  /v1/rollouts                       every rollout's status
//   GET  /v1/rollouts/<mesh>/<name>         one
//   POST /v1/rollouts                       start one: {"mesh"?, "name", "spec": <a Rollout spec>}
//   POST /v1/rollouts/<mesh>/<name>/<pause|resume|abort|promote>
import { formatFieldPath } from '../load/problems';
import { checkValue } from '../load/schema-check';
import type { FieldPath } from '../model/common';
import { resourceName } from '../model/shapes';
import { COMMANDS, type Command, type RolloutController } from './controller';
import type { RolloutRecord } from './records';
import { resolveSettings, rolloutSpecShape, splitWebhookMetadata } from '../model/rollout';

export interface RolloutAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A rollout as the API and the CLI show it: the record, plus how long until its next step. */
export function rolloutView(r: RolloutRecord, now = Date.now()): unknown {
  const { nextStepAt, ...rest } = r;
  return { ...rest, nextStepInMs: nextStepAt === undefined ? null : Math.max(0, nextStepAt - now) };
}

const error = (status: number, message: string): RolloutAnswer => ({ status, body: { error: message } });

/** Answers a request under /v1/rollouts; `meshes` are the meshes served now (to pick the default one). */
export async function answerRollouts(
  controller: RolloutController,
  meshes: () => readonly string[],
  method: string,
  path: string,
  body: string,
): Promise<RolloutAnswer> {
  let parts: string[];
  try {
    parts = path.split('/').slice(3).map(decodeURIComponent); // ['', 'v1', 'rollouts', ...]
  } catch {
    return error(400, 'the path is not valid percent-encoding (a % must be followed by two hex digits)');
  }
  if (method === 'GET' && parts.length === 0)
    return { status: 200, body: controller.list().map((r) => rolloutView(r)) };
  if (method === 'GET' && parts.length === 2) {
    const r = controller.get(parts[0]!, parts[1]!);
    return r ? { status: 200, body: rolloutView(r) } : error(404, `no rollout ${parts[0]}/${parts[1]}`);
  }
  if (method === 'POST' && parts.length === 0) return start(controller, meshes(), body);
  if (method === 'POST' && parts.length === 3) {
    if (!(COMMANDS as readonly string[]).includes(parts[2]!))
      return error(404, `no such rollout command '${parts[2]}'; try ${COMMANDS.join(', ')}`);
    const result = await controller.command(parts[0]!, parts[1]!, parts[2] as Command);
    return result.ok ? { status: 200, body: rolloutView(result.rollout) } : error(result.status, result.error);
  }
  if (method !== 'GET' && method !== 'POST') return error(405, 'only GET and POST are supported here');
  return error(
    404,
    'try GET /v1/rollouts, GET /v1/rollouts/<mesh>/<name>, POST /v1/rollouts or POST /v1/rollouts/<mesh>/<name>/<pause|resume|abort|promote>',
  );
}

async function start(controller: RolloutController, meshes: readonly string[], body: string): Promise<RolloutAnswer> {
  let request: { mesh?: unknown; name?: unknown; spec?: unknown };
  try {
    request = JSON.parse(body) as typeof request;
  } catch {
    return error(400, 'the body must be JSON: {"mesh": "...", "name": "...", "spec": {...}}');
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request))
    return error(400, 'the body must be a JSON object');
  const problems: string[] = [];
  const fail = (path: FieldPath, message: string) => problems.push(`${formatFieldPath(path)}: ${message}`);
  checkValue(resourceName, request.name, ['name'], fail);
  if (request.mesh !== undefined) checkValue(resourceName, request.mesh, ['mesh'], fail);
  const { spec, metadata } = splitWebhookMetadata(request.spec, (path, message) => fail(['spec', ...path], message));
  checkValue(rolloutSpecShape, spec, ['spec'], fail);
  if (problems.length > 0) return error(400, problems.join('; '));
  let mesh = request.mesh as string | undefined;
  if (mesh === undefined) {
    if (meshes.length !== 1)
      return error(
        400,
        `name the mesh (--mesh-name): ${meshes.length === 0 ? 'no mesh is served' : `${meshes.length} meshes are served (${meshes.join(', ')})`}`,
      );
    mesh = meshes[0]!;
  }
  const result = await controller.start(
    mesh,
    request.name as string,
    resolveSettings(spec as Parameters<typeof resolveSettings>[0], metadata),
  );
  return result.ok ? { status: 201, body: rolloutView(result.rollout) } : error(result.status, result.error);
}
