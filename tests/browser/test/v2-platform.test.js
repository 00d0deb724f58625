// The console's §8 part (live stats: the server's `stats` frames) against the
// real server.

import { startServer } from '../lib/server.js';
import { signJwt } from '../lib/tokens.js';
import { v2Suite } from '../lib/v2-suite.js';

v2Suite(
  async () => {
    // Stats every second instead of every 30 s (§8 `rooms.stats_interval_s`).
    const s = await startServer({ env: { ROOMCAST__ROOMS__STATS_INTERVAL_S: '1' } });
    return { ...s, token: (claims) => signJwt(s.secret, claims) };
  },
  { moderation: false },
);
