import type { ExecutionContext } from '@nestjs/common';
import { RouteMetadataCache } from './route-metadata-cache';

const contextOf = (handler: object, cls: object): ExecutionContext =>
  ({ getHandler: () => handler, getClass: () => cls }) as unknown as ExecutionContext;

describe('RouteMetadataCache', () => {
  it('computes once per handler and class, and keeps inherited handlers on different classes apart', () => {
    const compute = jest.fn((context: ExecutionContext) => (context.getClass() as unknown as { tag: string }).tag);
    const cache = new RouteMetadataCache(compute);
    const handler = (): void => undefined;
    const publicClass = { tag: 'public' };
    const privateClass = { tag: 'private' };

    expect(cache.get(contextOf(handler, publicClass))).toBe('public');
    expect(cache.get(contextOf(handler, publicClass))).toBe('public');
    expect(cache.get(contextOf(handler, privateClass))).toBe('private');
    expect(cache.get(contextOf(handler, privateClass))).toBe('private');
    expect(compute).toHaveBeenCalledTimes(2);
  });
});
