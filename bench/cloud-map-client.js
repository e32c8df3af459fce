// The Cloud Map benchmarks' common parts (a helper, not a bench): the mesh of CALLERS caller nodes of one Cloud
// Map-discovered service, one call of meshd's Cloud Map API (AWS JSON 1.1 over HTTP, unsigned: meshd on loopback takes
// it), and waiting for /readyz.
'use strict';
const { requestJson, waitReady } = require('./http-json');

const CALLERS = 10;

function meshYaml() {
  const docs = [`kind: Mesh\nname: cm\n`];
  docs.push(
    `kind: VirtualNode\nmesh: cm\nname: orders\nspec:\n  listeners: [{ portMapping: { port: 8080, protocol: http } }]\n  serviceDiscovery: { awsCloudMap: { namespaceName: cm.local, serviceName: orders } }\n`,
  );
  docs.push(
    `kind: VirtualService\nmesh: cm\nname: orders.cm.local\nspec: { provider: { virtualNode: { virtualNodeName: orders } } }\n`,
  );
  for (let i = 0; i < CALLERS; i++)
    docs.push(
      `kind: VirtualNode\nmesh: cm\nname: caller-${i}\nspec:\n  backends: [{ virtualService: { virtualServiceName: orders.cm.local } }]\n`,
    );
  return docs.join('---\n');
}

/** One call of meshd's Cloud Map API (AWS JSON 1.1); resolves with the parsed answer. */
function cloudMap(port, operation, input) {
  const options = {
    host: '127.0.0.1',
    port,
    path: '/',
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `Route53AutoNaming_v20170314.${operation}`,
    },
  };
  return requestJson(options, JSON.stringify(input), operation);
}

module.exports = { CALLERS, meshYaml, cloudMap, waitReady };
