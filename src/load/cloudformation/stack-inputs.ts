// What a CloudFormation stack gets from outside its template: parameter values (each template's
// Defaults, overridden by --parameter), the pseudo parameters (AWS::Region, AWS::AccountId, ...)
// and the exports other stacks made (Fn::ImportValue, from --import-value). meshd deploys no
// stack, so these come from flags, with the defaults documented in docs/mesh-files.md.
import { createHash } from 'node:crypto';
import type { FieldPath } from '../../model/common';

export interface CloudFormationOptions {
  /** --parameter Key=Value: overrides a parameter's Default in every template that declares it. */
  readonly parameters?: ReadonlyMap<string, string>;
  /** --import-value Name=Value: what Fn::ImportValue of that export name gives. */
  readonly importValues?: ReadonlyMap<string, string>;
  /**
   * --resource-value: what Ref (`LogicalId`) or Fn::GetAtt (`LogicalId.Attribute`) of a resource meshd
   * does not model gives (a load balancer's DNSName, a certificate's ARN); in every template that declares it.
   */
  readonly resourceValues?: ReadonlyMap<string, string>;
  /** AWS::Region (default us-east-1, meshd's local Cloud Map region). */
  readonly region?: string;
  /** AWS::AccountId (default 000000000000, meshd's local Cloud Map account). */
  readonly accountId?: string;
  /** AWS::StackName (default: the template's file name without its extension). */
  readonly stackName?: string;
}

export const DEFAULT_REGION = 'us-east-1';
export const DEFAULT_ACCOUNT_ID = '000000000000';

/** A parameter's value: parameters are strings, list types are lists of strings (as Ref gives them). */
export type ParameterValue = string | readonly string[];

/** The stack-wide values every intrinsic function can see. */
export class StackInputs {
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;

  constructor(
    readonly options: CloudFormationOptions,
    readonly stackName: string,
  ) {
    this.region = options.region ?? DEFAULT_REGION;
    this.accountId = options.accountId ?? DEFAULT_ACCOUNT_ID;
    this.partition = this.region.startsWith('cn-')
      ? 'aws-cn'
      : this.region.startsWith('us-gov-')
        ? 'aws-us-gov'
        : 'aws';
  }

  /** A pseudo parameter's value, or undefined when `name` is none (AWS::NoValue is the caller's). */
  pseudo(name: string): ParameterValue | undefined {
    switch (name) {
      case 'AWS::Region':
        return this.region;
      case 'AWS::AccountId':
        return this.accountId;
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::StackName':
        return this.stackName;
      case 'AWS::StackId':
        return `arn:${this.partition}:cloudformation:${this.region}:${this.accountId}:stack/${this.stackName}/${stableUuid(`stack:${this.stackName}`)}`;
      case 'AWS::URLSuffix':
        return this.partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com';
      case 'AWS::NotificationARNs':
        return [];
      default:
        return undefined;
    }
  }
}

export const PSEUDO_PARAMETERS = [
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
];

/** The parameter types CloudFormation knows; the AWS-specific ones are strings (or lists of them) to meshd. */
export function parameterKind(type: string): 'string' | 'number' | 'list' | 'ssm' | undefined {
  if (type === 'String') return 'string';
  if (type === 'Number') return 'number';
  if (type === 'CommaDelimitedList' || type === 'List<Number>' || /^List<AWS::[A-Za-z0-9:]+>$/.test(type))
    return 'list';
  if (type.startsWith('AWS::SSM::Parameter::')) return 'ssm';
  if (/^AWS::[A-Za-z0-9]+::[A-Za-z0-9:]+$/.test(type)) return 'string';
  return undefined;
}

/** A parameter declaration, checked, and the value it takes in this load (if any). */
export interface DeclaredParameter {
  readonly name: string;
  readonly path: FieldPath;
  readonly kind: 'string' | 'number' | 'list' | 'ssm';
  /** Undefined when neither a Default nor --parameter gives one (an error only where it is used). */
  readonly value?: ParameterValue;
  /** Where the value came from, for messages. */
  readonly from?: 'Default' | '--parameter';
  /** The declaration or its value was refused (reported): uses of it fail quietly. */
  readonly refused?: boolean;
}

/**
 * Checks one Parameters entry and works out its value. Problems go to `fail` with paths under
 * `path` (the entry). Constraints checked: Type, AllowedValues, MinLength/MaxLength,
 * MinValue/MaxValue and that a Number is a number; AllowedPattern is not checked (documented).
 */
export function declareParameter(
  name: string,
  decl: unknown,
  path: FieldPath,
  given: string | undefined,
  fail: (path: FieldPath, message: string) => void,
): DeclaredParameter | undefined {
  if (decl === null || typeof decl !== 'object' || Array.isArray(decl)) {
    fail(path, 'a parameter must be a mapping with a Type');
    return undefined;
  }
  const d = decl as Record<string, unknown>;
  const known = [
    'Type',
    'Default',
    'Description',
    'AllowedValues',
    'AllowedPattern',
    'ConstraintDescription',
    'MinLength',
    'MaxLength',
    'MinValue',
    'MaxValue',
    'NoEcho',
  ];
  let ok = true;
  for (const key of Object.keys(d)) {
    if (!known.includes(key)) {
      fail([...path, key], `unknown parameter attribute '${key}'; expected one of: ${known.join(', ')}`);
      ok = false;
    }
  }
  if (typeof d.Type !== 'string') {
    fail([...path, 'Type'], d.Type === undefined ? 'required field is missing' : 'must be a string');
    return undefined;
  }
  const kind = parameterKind(d.Type);
  if (!kind) {
    fail(
      [...path, 'Type'],
      `unknown parameter type '${d.Type}'; expected String, Number, List<Number>, CommaDelimitedList or an AWS-specific type`,
    );
    return undefined;
  }
  if (!ok) return undefined;
  let raw: string | undefined;
  let from: DeclaredParameter['from'];
  if (given !== undefined) [raw, from] = [given, '--parameter'];
  else if (d.Default !== undefined && d.Default !== null) {
    if (typeof d.Default === 'string' || typeof d.Default === 'number' || typeof d.Default === 'boolean')
      [raw, from] = [String(d.Default), 'Default'];
    else if (
      Array.isArray(d.Default) &&
      kind === 'list' &&
      d.Default.every((v) => typeof v === 'string' || typeof v === 'number')
    )
      [raw, from] = [d.Default.join(','), 'Default'];
    else {
      fail([...path, 'Default'], 'must be a string (or, for a list type, a comma-separated string)');
      return undefined;
    }
  }
  if (raw === undefined) return { name, path, kind };
  const where: FieldPath = from === 'Default' ? [...path, 'Default'] : path;
  const cut = raw.length > 80 ? `${raw.slice(0, 80)}…` : raw;
  const shown = from === '--parameter' ? `value '${cut}' (from --parameter ${name})` : `Default '${cut}'`;
  const constraint = typeof d.ConstraintDescription === 'string' ? `: ${d.ConstraintDescription}` : '';
  const items = kind === 'list' ? raw.split(',') : [raw];
  const violation = constraintViolation(d, kind, d.Type, items);
  if (violation) {
    fail(where, `${shown} ${violation}${constraint}`);
    return undefined;
  }
  return { name, path, kind, value: kind === 'list' ? items : raw, from };
}

/** Why `items` break the parameter's constraints, or undefined. */
function constraintViolation(
  d: Record<string, unknown>,
  kind: DeclaredParameter['kind'],
  type: string,
  items: readonly string[],
): string | undefined {
  const numeric = kind === 'number' || type === 'List<Number>';
  // A set, made once: a list's every item against every allowed value
  // was quadratic (100,000 items, 40,000 values: over a minute).
  const allowed = Array.isArray(d.AllowedValues) ? new Set(d.AllowedValues.map(String)) : undefined;
  for (const item of items) {
    if (numeric && !/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(item.trim())) return `is not a number`;
    if (allowed && !allowed.has(item))
      return `is not one of the AllowedValues (${[...allowed].slice(0, 20).join(', ')}${allowed.size > 20 ? `, … ${allowed.size} in all` : ''})`;
    if (typeof d.MinLength === 'number' && item.length < d.MinLength) return `is shorter than MinLength ${d.MinLength}`;
    if (typeof d.MaxLength === 'number' && item.length > d.MaxLength) return `is longer than MaxLength ${d.MaxLength}`;
    if (numeric && typeof d.MinValue === 'number' && Number(item) < d.MinValue)
      return `is below MinValue ${d.MinValue}`;
    if (numeric && typeof d.MaxValue === 'number' && Number(item) > d.MaxValue)
      return `is above MaxValue ${d.MaxValue}`;
  }
  return undefined;
}

/** A UUID-shaped value that is the same for the same seed: for values AWS would make up (a stack id, a Uid). */
export function stableUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A Cloud Map-shaped id (`ns-…`, `srv-…`) that is the same for the same seed. */
export function stableId(prefix: string, seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return `${prefix}-${Array.from(h.subarray(0, 16), (b) => alphabet[b & 31]).join('')}`;
}
