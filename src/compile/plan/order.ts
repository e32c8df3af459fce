// Small shared pieces of every plan: the order of its lists and where a listener binds.
import { compare } from '../../model/mesh-model';
import type { AddressFamilyPlan } from './ip-preference';
import type { BindPlan } from './types';

/** The order of every list in a plan (and so in the Envoy resources). */
export function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return compare(a.name, b.name);
}

/** A listener on every address of the proxy's address family (sidecars and gateways); `::` also accepts IPv4. */
export function bindAll(addresses: AddressFamilyPlan, port: number): BindPlan {
  return { address: addresses.bindAddress, port, ipv4Compat: addresses.bindAddress === '::' };
}
