/** The failures a user must be told about, each with one clear line. */

export class HeadError extends Error {
  constructor(message: string, readonly cluster: string) {
    super(message);
  }
}

/** The head did not answer (connection refused, DNS, timeout). */
export class HeadUnreachable extends HeadError {}

/** 401: the stored token is missing or wrong. */
export class BadToken extends HeadError {}

/** 404 on a session: the worker resumed or died. */
export class SessionGone extends HeadError {}

/** 409 on a ticket: another client is attached. */
export class AlreadyAttached extends HeadError {}

/** Any other non-2xx answer; the message is the head's one-line error. */
export class HeadRejected extends HeadError {
  constructor(message: string, cluster: string, readonly status: number) {
    super(message, cluster);
  }
}
