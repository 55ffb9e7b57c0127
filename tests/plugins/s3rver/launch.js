// Starts s3rver on a loopback port for the remote provider's tests and
// benchmark: `node launch.js DIR BUCKET...`. Prints {"port": N} on one line
// once it listens, and exits when its standard input closes, so a test that
// dies never leaves a server behind.
'use strict';

const S3rver = require('s3rver');

async function main() {
  const [directory, ...buckets] = process.argv.slice(2);
  if (!directory) {
    console.error('usage: node launch.js DIR [BUCKET...]');
    process.exit(2);
  }
  const server = new S3rver({
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
