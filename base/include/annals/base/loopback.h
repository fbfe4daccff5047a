// Loopback TCP helpers for what starts local servers (the benchmarks' and tests' nats-server,
// annalsd): a free port, and whether a port accepts connections yet.
// Thread-safety: free functions, no shared state.
#pragma once

namespace annals {

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released), or -1.
int FreeLoopbackPort();

// True when a TCP connection to 127.0.0.1:port succeeds now.
bool LoopbackAccepts(int port);

}  // namespace annals
