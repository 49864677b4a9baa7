import type { ExecutionContext } from '@nestjs/common';

/**
 * What a global guard reads from a route's decorators, computed once per route instead of once
 * per request (the reflector walks the metadata of the handler and its class every time). Keyed
 * by handler and class: an inherited handler can sit on classes with different decorators.
 */
export class RouteMetadataCache<T> {
  private readonly byHandler = new WeakMap<object, WeakMap<object, T>>();

  constructor(private readonly compute: (context: ExecutionContext) => T) {}

  get(context: ExecutionContext): T {
    const handler = context.getHandler();
    const cls = context.getClass();
    let byClass = this.byHandler.get(handler);
    if (!byClass) this.byHandler.set(handler, (byClass = new WeakMap()));
    let value = byClass.get(cls);
    if (value === undefined) byClass.set(cls, (value = this.compute(context)));
    return value;
  }
}
