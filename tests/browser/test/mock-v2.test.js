// The console's §7/§8 parts against a scripted v2 stand-in (lib/mock-v2.js):
// they pass today, before the real server has §7/§8, so the console's held
// queue, chat-mode toggles, shadow-ban, pin, user card and stats panels are
// known to work as the contract describes them. The same suite runs against the
// real server in v2.test.js.

import { startMockV2 } from '../lib/mock-v2.js';
import { v2Suite } from '../lib/v2-suite.js';

v2Suite(startMockV2);
