import { loadConfig } from '../../../common/config';
import { ChatModelFactory } from './chat-model.factory';
import { OfflineChatModel } from './offline-chat-model';

describe('ChatModelFactory', () => {
  it('makes the configured model once and hands the same one to every run (so its compiled agent is reused)', async () => {
    const factory = new ChatModelFactory(loadConfig({ LLM_PROVIDER: 'offline' }));
    const [a, b] = await Promise.all([factory.create(), factory.create()]);
    expect(a).toBeInstanceOf(OfflineChatModel);
    expect(b).toBe(a);
    expect(await factory.create()).toBe(a);
  });
});
