// The plan's access log → Envoy file access logs, in App Mesh's text or JSON format.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { FileAccessLog } from '../generated/envoy/extensions/access_loggers/file/v3/FileAccessLog';
import { packAny } from './any';
import type { AccessLogPlan } from './plan/types';

function logFormat(format: NonNullable<AccessLogPlan['format']>): FileAccessLog['log_format'] {
  if ('json' in format)
    return {
      json_format: { fields: Object.fromEntries(format.json.map(({ key, value }) => [key, { stringValue: value }])) },
    };
  return { text_format_source: { inline_string: format.text } };
}

/** Empty when the proxy does not log; Envoy's default format when no format is given. */
export function accessLogs(log: AccessLogPlan | undefined): AccessLog[] {
  if (!log) return [];
  const config: FileAccessLog = { path: log.path, ...(log.format ? { log_format: logFormat(log.format) } : {}) };
  return [
    {
      name: 'envoy.access_loggers.file',
      typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', config),
    },
  ];
}
