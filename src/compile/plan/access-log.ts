// A node's or gateway's `logging.accessLog.file` → the plan's access log.
import type { Infer } from '../../model/schema';
import type { loggingShape } from '../../model/shapes';
import type { AccessLogPlan } from './types';

type Logging = Infer<typeof loggingShape>;

/** undefined when the proxy does not log; Envoy's default format when no format is given. */
export function planAccessLog(logging: Logging | undefined): AccessLogPlan | undefined {
  const file = logging?.accessLog?.file;
  if (!file) return undefined;
  const format = file.format;
  if (!format) return { path: file.path };
  if (format.json) return { path: file.path, format: { json: format.json.map(({ key, value }) => ({ key, value })) } };
  // One entry per line, as App Mesh wrote them, whether or not the format ends in a newline.
  const text = format.text!;
  return { path: file.path, format: { text: text.endsWith('\n') ? text : `${text}\n` } };
}
