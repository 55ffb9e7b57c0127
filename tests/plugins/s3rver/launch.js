// Starts s3rver on a loopback port for the remote provider's tests and
// benchmark: `node launch.js [--tls KEY CERT] DIR BUCKET...`. Prints
// {"port": N} on one line once it listens, and exits when its standard input
// closes, so a test that dies never leaves a server behind. With --tls it
// serves https with that PEM key and certificate. Virtual-host requests
// name the bucket as "<bucket>.s3.localhost".
'use strict';

const fs = require('fs');
const S3rver = require('s3rver');

async function main() {
  let args = process.argv.slice(2);
  const tls = {};
  if (args[0] === '--tls') {
    tls.key = fs.readFileSync(args[1]);
    tls.cert = fs.readFileSync(args[2]);
    args = args.slice(3);
  }
  const [directory, ...buckets] = args;
  if (!directory) {
    console.error('usage: node launch.js [--tls KEY CERT] DIR [BUCKET...]');
    process.exit(2);
  }
  const server = new S3rver({
    ...tls,
    // "<bucket>.s3.localhost" is a virtual-host request for <bucket>;
    // "127.0.0.1" and "localhost" stay path style.
    serviceEndpoint: 'localhost',
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: buckets.map(name => ({ name })),
  });
  const { port } = await server.run();
  process.stdout.write(JSON.stringify({ port }) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
}

main().catch(err => {
  console.error(`s3rver failed to start: ${err.stack || err}`);
  process.exit(1);
});
