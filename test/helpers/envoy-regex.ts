// Asks a real Envoy about route regexes with `envoy --mode validate` on a static route table:
// the RE2 program size of each regex (the runtime warns about every one: warn_level 0, and
// refuses none, so Envoy logs "RE2 program size of N" once per regex, in order), or why Envoy
// refuses one.
import { spawnSync } from 'node:child_process';
import { tmpFile } from './processes';

function routeTable(regexes: readonly string[], runtime: Record<string, number>): string {
  const routes = regexes.map((regex) => ({
    match: { prefix: '/', headers: [{ name: 'x-r', string_match: { safe_regex: { regex } } }] },
    direct_response: { status: 200 },
  }));
  return JSON.stringify({
    node: { id: 'regex-check', cluster: 'regex-check' },
    layered_runtime: { layers: [{ name: 'static_layer_0', static_layer: runtime }] },
    static_resources: {
      listeners: [
        {
          name: 'l',
          address: { socket_address: { address: '127.0.0.1', port_value: 1 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'x',
                    http_filters: [
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                    route_config: { virtual_hosts: [{ name: 'v', domains: ['*'], routes }] },
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  });
}

function validate(envoyBin: string, config: string): { ok: boolean; log: string } {
  const file = tmpFile('regex-check.json', config);
  const r = spawnSync(envoyBin, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return { ok: r.status === 0, log: `${r.stdout}${r.stderr}` };
}

export function envoyProgramSizes(envoyBin: string, regexes: readonly string[]): number[] {
  const { ok, log } = validate(
    envoyBin,
    routeTable(regexes, { 're2.max_program_size.error_level': 4294967295, 're2.max_program_size.warn_level': 0 }),
  );
  if (!ok) throw new Error(`envoy refused the regexes:\n${log.slice(-3000)}`);
  const sizes = [...log.matchAll(/RE2 program size of ([0-9]+) > max program size of 0 set for the warn level/g)].map(
    (m) => Number(m[1]),
  );
  if (sizes.length !== regexes.length)
    throw new Error(`envoy reported ${sizes.length} sizes for ${regexes.length} regexes`);
  return sizes;
}

/** Envoy's complaint about one regex under an error level (default: none), or undefined if it takes it. */
export function envoyRegexError(envoyBin: string, regex: string, errorLevel = 4294967295): string | undefined {
  const { ok, log } = validate(envoyBin, routeTable([regex], { 're2.max_program_size.error_level': errorLevel }));
  return ok ? undefined : (log.split('\n').find((l) => l.includes('critical')) ?? log.slice(-2000));
}
