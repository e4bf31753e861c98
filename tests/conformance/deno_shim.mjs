// Just enough of Deno's API for uNetworking/h1spec's http_test.ts to run unmodified under Node
// (through tsx): Deno.args, Deno.exit and Deno.connect with write/read/close. Loaded with
// `node --import tsx --import ./deno_shim.mjs http_test.ts HOST PORT`; h1spec itself is
// fetched, never committed.
import net from "node:net";

function connect({ hostname, port }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port }, () => resolve(wrap(socket)));
    socket.once("error", reject);
  });
}

function wrap(socket) {
  const chunks = [];
  let waiting = null;
  let failWaiting = null;
  let ended = false;
  socket.on("data", (d) => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      failWaiting = null;
      w(d);
    } else {
      chunks.push(d);
    }
  });
  const finish = () => {
    ended = true;
    if (waiting) {
      const w = waiting;
      waiting = null;
      w(null);
    }
  };
  socket.on("end", finish);
  socket.on("close", finish);
  socket.on("error", finish);
  return {
    write: (bytes) => new Promise((resolve) => socket.write(bytes, () => resolve(bytes.length))),
    read: (buffer) =>
      new Promise((resolve, reject) => {
        const deliver = (d) => {
          if (d === null) {
            return resolve(null);
          }
          const n = Math.min(d.length, buffer.length);
          buffer.set(d.subarray(0, n));
          if (n < d.length) {
            chunks.unshift(d.subarray(n));
          }
          resolve(n);
        };
        if (chunks.length > 0) {
          deliver(chunks.shift());
        } else if (ended) {
          resolve(null);
        } else {
          waiting = deliver;
          failWaiting = reject;
        }
      }),
    // As Deno's: a read pending when the connection is closed locally throws (BadResource).
    close: () => {
      if (failWaiting) {
        const f = failWaiting;
        waiting = null;
        failWaiting = null;
        f(new Error("BadResource: the connection was closed"));
      }
      socket.destroy();
    },
  };
}

globalThis.Deno = {
  args: process.argv.slice(2).filter((a) => !a.endsWith(".ts")),
  exit: (code) => process.exit(code),
  connect,
};
