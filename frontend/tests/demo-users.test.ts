import { describe, expect, it } from 'vitest';
import { DEMO_USERS } from '../src/app/chat/ChatPage';

// The /chat picker shows this copy until the gateway's own list (GET
// /dev/users, sorted by name, then id) replaces it: in another order the
// options would move under the user's pointer, and the first-visit browser
// test read them mid-swap once.
describe('the demo picker fallback', () => {
  it('is in the gateway order: by name, then id', () => {
    const sorted = [...DEMO_USERS].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    expect(DEMO_USERS.map((u) => u.id)).toEqual(sorted.map((u) => u.id));
  });
});
