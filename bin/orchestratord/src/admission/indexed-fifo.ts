interface Node<V> {
  readonly key: string;
  readonly value: V;
  prev: Node<V> | null;
  next: Node<V> | null;
}

/**
 * A FIFO with removal by key, every operation O(1): a doubly linked list plus a key index. (A JS Map keeps
 * insertion order too, but reading its first entry after many deletions at the front walks the holes they left,
 * which makes draining a deep queue quadratic.)
 */
export class IndexedFifo<V> {
  readonly #index = new Map<string, Node<V>>();
  #head: Node<V> | null = null;
  #tail: Node<V> | null = null;

  get size(): number {
    return this.#index.size;
  }

  get first(): V | undefined {
    return this.#head?.value;
  }

  has(key: string): boolean {
    return this.#index.has(key);
  }

  get(key: string): V | undefined {
    return this.#index.get(key)?.value;
  }

  /** Append at the tail; a key already present is refused (false). */
  push(key: string, value: V): boolean {
    if (this.#index.has(key)) return false;
    const node: Node<V> = { key, value, prev: this.#tail, next: null };
    if (this.#tail === null) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#index.set(key, node);
    return true;
  }

  /** Insert at the head (work that goes back to the front of the line); a key already present is refused. */
  unshift(key: string, value: V): boolean {
    if (this.#index.has(key)) return false;
    const node: Node<V> = { key, value, prev: null, next: this.#head };
    if (this.#head === null) this.#tail = node;
    else this.#head.prev = node;
    this.#head = node;
    this.#index.set(key, node);
    return true;
  }

  delete(key: string): V | undefined {
    const node = this.#index.get(key);
    if (node === undefined) return undefined;
    this.#index.delete(key);
    if (node.prev === null) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.#tail = node.prev;
    else node.next.prev = node.prev;
    return node.value;
  }

  *values(): IterableIterator<V> {
    for (let node = this.#head; node !== null; node = node.next) yield node.value;
  }
}
