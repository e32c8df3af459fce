// meshd's remote Cloud Map client does not pass on the AWS SDK's notice that the SDK's versions
// from January 2027 on will need Node 22: the SDK version meshd pins supports Node 20 (its
// engines say >=20.0.0), so there is nothing for meshd's users to do (package.json engines).
// Its own file: the SDK says it once per process (per test file's module registry, here).
import { remoteClient } from '../../src/discovery/cloud-map/remote-client';

it("creating the remote Cloud Map client prints no AWS SDK notice about Node's version", () => {
  delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  const emitted: string[] = [];
  const spy = jest
    .spyOn(process, 'emitWarning')
    .mockImplementation((warning: string | Error) => void emitted.push(String(warning)));
  try {
    remoteClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9' }).close();
  } finally {
    spy.mockRestore();
  }
  expect(emitted.filter((w) => w.includes('NodeVersionSupportWarning'))).toEqual([]);
});
