/**
 * meshd cannot start (a port taken, a state file it cannot read,
 * ...): the message says why, for `cannot start: <message>`.
 */
export class StartError extends Error {}
