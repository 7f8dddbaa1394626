import superjson from 'superjson';

type Serialized = ReturnType<typeof superjson.serialize>;
const done = new WeakMap<object, Serialized>();

/**
 * superjson, with the output of a frozen value serialized once however many answers carry it: a
 * batch of task changes goes to every open live stream as the same frozen array (see TaskFeed).
 */
export const transformer = {
  input: superjson,
  output: {
    serialize(value: unknown): Serialized {
      if (value === null || typeof value !== 'object' || !Object.isFrozen(value))
        return superjson.serialize(value);
      let s = done.get(value);
      if (!s) done.set(value, (s = superjson.serialize(value)));
      return s;
    },
    deserialize: superjson.deserialize,
  },
};
