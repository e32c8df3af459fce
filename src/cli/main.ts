// meshd's command line: one module per command, dispatched here.
import { bootstrapCommand, runBootstrap } from './bootstrap';
import { helpText, parseArgs, UsageError, type CommandSpec, type ParsedArgs } from './args';
import { deregisterCommand, registerCommand, runDeregister, runRegister } from './cloud-map';
import { configDumpCommand, runConfigDump } from './config-dump';
import { exportCommand, runExport } from './export';
import { renderCommand, runRender } from './render';
import { caCommand, runCa, runToken, tokenCommand } from './identity';
import { k8sCommand, runK8s } from './k8s';
import { rolloutCommand, runRollout } from './rollout';
import { runServe, serveCommand } from './serve';
import { runStatus, statusCommand } from './status';
import { runValidate, validateCommand } from './validate';
import { runVersion, versionCommand } from './version';

export const COMMANDS: { spec: CommandSpec; run: (args: ParsedArgs) => number | Promise<number> }[] = [
  { spec: serveCommand, run: runServe },
  { spec: validateCommand, run: runValidate },
  { spec: renderCommand, run: runRender },
  { spec: exportCommand, run: runExport },
  { spec: bootstrapCommand, run: runBootstrap },
  { spec: statusCommand, run: runStatus },
  { spec: configDumpCommand, run: runConfigDump },
  { spec: registerCommand, run: runRegister },
  { spec: deregisterCommand, run: runDeregister },
  { spec: rolloutCommand, run: runRollout },
  { spec: tokenCommand, run: runToken },
  { spec: caCommand, run: runCa },
  { spec: k8sCommand, run: runK8s },
  { spec: versionCommand, run: runVersion },
];

function overview(): string {
  const lines = [
    'meshd: an AWS App Mesh-compatible control plane for Envoy',
    '',
    'usage: meshd <command> [flags]',
    '',
    'commands:',
  ];
  // Two spaces at least between a command and its summary, whatever the longest name.
  const width = Math.max(...COMMANDS.map(({ spec }) => spec.name.length)) + 2;
  for (const { spec } of COMMANDS) lines.push(`  ${spec.name.padEnd(width)}${spec.summary}`);
  lines.push('', "run 'meshd <command> --help' for a command's flags");
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [given, ...rest] = argv;
  if (!given || given === '--help' || given === '-h' || given === 'help') {
    process.stdout.write(overview());
    return given ? 0 : 2;
  }
  // `meshd --version` is what most tools answer; it is the version command.
  const name = given === '--version' ? versionCommand.name : given;
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    process.stderr.write(`meshd: unknown command '${name}'\n\n${overview()}`);
    return 2;
  }
  try {
    const args = parseArgs(command.spec, rest, process.env);
    if (args.help) {
      process.stdout.write(helpText(command.spec));
      return 0;
    }
    return await command.run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meshd ${name}: ${err.message}\n`);
      return 2;
    }
    // Not a usage problem: a bug. Say so in one line; MESHD_DEBUG=1 shows the stack.
    process.stderr.write(`meshd ${name}: internal error: ${(err as Error).message}\n`);
    if (process.env.MESHD_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 70;
  }
}
