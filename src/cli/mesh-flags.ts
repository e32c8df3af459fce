// Flags shared by every command that reads a mesh.
import { DEFAULT_ACCOUNT_ID, DEFAULT_REGION, type CloudFormationOptions } from '../load/cloudformation/stack-inputs';
import type { LoadOptions } from '../load/mesh-source';
import { withApiDir } from '../store/api-dir';
import { UsageError, type FlagSpec, type ParsedArgs } from './args';

export const meshNameFlag: FlagSpec = {
  type: 'string',
  metavar: 'mesh',
  help: 'the mesh of resources that name none (App Mesh CLI JSON without meshName, Kubernetes manifests without meshRef); default: the only mesh defined',
};

export const apiDirFlag: FlagSpec = {
  type: 'string',
  metavar: 'folder',
  help: "the App Mesh API's folder, read after the mesh paths when it exists (default: .meshd-api in the folder of the first mesh path, where meshd serve writes it)",
};

/** The paths a command reads: the mesh paths given, then the App Mesh API's folder when it exists (--api-dir). */
export function meshPathsOf(args: ParsedArgs, paths: readonly string[]): string[] {
  const apiDir = args.flags['api-dir'] as string | undefined;
  return apiDir === undefined ? withApiDir(paths) : withApiDir(paths, apiDir);
}

export const strictFlag: FlagSpec = {
  type: 'bool',
  help: "refuse fields of Kubernetes manifests that App Mesh's CRDs do not know (as kubectl --validate=strict does); without it they are warnings and left out, as the API server prunes them",
};

/** What CloudFormation templates get from outside (see docs/mesh-files.md, CloudFormation). */
export const cloudFormationFlags: Readonly<Record<string, FlagSpec>> = {
  parameter: {
    type: 'list',
    single: true,
    metavar: 'Key=Value',
    help: "CloudFormation: a template parameter's value, over its Default (repeat for more)",
  },
  'import-value': {
    type: 'list',
    single: true,
    metavar: 'Name=Value',
    help: 'CloudFormation: what Fn::ImportValue of the export Name gives (repeat for more)',
  },
  'resource-value': {
    type: 'list',
    single: true,
    metavar: 'Id[.Attribute]=Value',
    help: 'CloudFormation: what Ref of a resource meshd does not model (ECS, ELB, ...) gives, or Fn::GetAtt of one of its attributes (repeat for more)',
  },
  region: {
    type: 'string',
    metavar: 'region',
    help: 'CloudFormation: AWS::Region, and the region in ARNs',
    default: DEFAULT_REGION,
    env: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  },
  'account-id': {
    type: 'string',
    metavar: 'id',
    help: 'CloudFormation: AWS::AccountId, and the account in ARNs',
    default: DEFAULT_ACCOUNT_ID,
  },
  'stack-name': {
    type: 'string',
    metavar: 'name',
    help: "CloudFormation: AWS::StackName; default: each template's file name without extension",
  },
};

export function loadOptions(args: ParsedArgs): LoadOptions {
  const meshName = args.flags['mesh-name'] as string | undefined;
  const cloudFormation = cloudFormationOptions(args);
  return {
    ...(meshName === undefined ? {} : { meshName }),
    ...(args.flags.strict === true ? { strict: true } : {}),
    ...(cloudFormation ? { cloudFormation } : {}),
  };
}

/** The CloudFormation flags, checked; undefined for a command without them. */
function cloudFormationOptions(args: ParsedArgs): CloudFormationOptions | undefined {
  if (!('region' in args.flags)) return undefined;
  const region = args.flags.region as string;
  const accountId = args.flags['account-id'] as string;
  const stackName = args.flags['stack-name'] as string | undefined;
  // Loose on purpose: AWS_REGION is set for other tools too (a local endpoint's 'local', say), and must not stop meshd.
  if (!/^[a-z0-9-]{1,64}$/.test(region))
    throw new UsageError(
      `${args.sources.region ?? '--region'} must be an AWS region such as us-east-1, got '${region}'`,
    );
  if (!/^\d{12}$/.test(accountId)) throw new UsageError(`--account-id must be 12 digits, got '${accountId}'`);
  if (stackName !== undefined && !/^[A-Za-z][-A-Za-z0-9]{0,127}$/.test(stackName))
    throw new UsageError(`--stack-name must be a letter followed by letters, digits and hyphens, got '${stackName}'`);
  return {
    parameters: pairs(args.flags.parameter as string[], '--parameter', 'Key=Value'),
    importValues: pairs(args.flags['import-value'] as string[], '--import-value', 'Name=Value'),
    resourceValues: pairs(
      args.flags['resource-value'] as string[],
      '--resource-value',
      'LogicalId=Value or LogicalId.Attribute=Value',
    ),
    region,
    accountId,
    ...(stackName !== undefined ? { stackName } : {}),
  };
}

/** `Key=Value` flags as a map; the value may hold `=` (and be empty), the key may not be given twice. */
function pairs(values: readonly string[], flag: string, form: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const key = eq === -1 ? '' : value.slice(0, eq);
    if (key === '') throw new UsageError(`${flag} takes ${form}, got '${value}'`);
    if (out.has(key)) throw new UsageError(`${flag} ${key} is given twice`);
    out.set(key, value.slice(eq + 1));
  }
  return out;
}
