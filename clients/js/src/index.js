/**
 * roomcast-client: the reference JavaScript client of roomcast (wire contract v2).
 *
 * ```js
 * import { Roomcast } from 'roomcast-client';
 * const client = new Roomcast({ url: 'wss://chat.example.com/ws', getToken: async () => myJwt });
 * const room = client.room('stream-42');
 * room.on('message', (m) => console.log(m.name, m.text));
 * client.connect();
 * await room.join();
 * await room.send('hello');
 * ```
 * @module roomcast-client
 */
export { Roomcast } from './client.js';
export { Room } from './room.js';
export { RoomcastError } from './errors.js';
export { Emitter } from './emitter.js';
export { backoffDelay } from './util.js';

/** The contract version this client speaks. */
export const PROTOCOL_VERSION = 2;
