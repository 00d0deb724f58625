// The console's §7 parts (AutoMod's held queue, chat modes, shadow ban, pin,
// the server's user card) against the real server. §8 (live stats) is in
// v2-platform.test.js.

import { startServer } from '../lib/server.js';
import { signJwt } from '../lib/tokens.js';
import { v2Suite } from '../lib/v2-suite.js';

v2Suite(
  async () => {
    const s = await startServer();
    return { ...s, token: (claims) => signJwt(s.secret, claims) };
  },
  { platform: false },
);
