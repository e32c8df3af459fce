// A node's `logging.accessLog.file` → Envoy file access logs, in App Mesh's text or JSON format.
import type { AccessLog } from '../generated/envoy/config/accesslog/v3/AccessLog';
import type { FileAccessLog } from '../generated/envoy/extensions/access_loggers/file/v3/FileAccessLog';
import type { Infer } from '../model/schema';
import type { loggingShape } from '../model/shapes';
import { packAny } from './any';

type Logging = Infer<typeof loggingShape>;

function logFormat(format: NonNullable<NonNullable<NonNullable<Logging['accessLog']>['file']>['format']>): FileAccessLog['log_format'] {
  if (format.json) {
    const fields = Object.fromEntries(format.json.map(({ key, value }) => [key, { stringValue: value }]));
    return { json_format: { fields } };
  }
  // One entry per line, as App Mesh wrote them, whether or not the format ends in a newline.
  const text = format.text!;
  return { text_format_source: { inline_string: text.endsWith('\n') ? text : `${text}\n` } };
}

/** Empty when the node does not log; Envoy's default format when no format is given. */
export function accessLogs(logging: Logging | undefined): AccessLog[] {
  const file = logging?.accessLog?.file;
  if (!file) return [];
  const config: FileAccessLog = { path: file.path, ...(file.format ? { log_format: logFormat(file.format) } : {}) };
  return [{ name: 'envoy.access_loggers.file', typed_config: packAny('envoy.extensions.access_loggers.file.v3.FileAccessLog', config) }];
}
