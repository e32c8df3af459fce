// The App Mesh API's errors: each type with the HTTP status App Mesh's model gives it. An answer
// carries the type twice, in the `x-amzn-ErrorType` header (which both the JS SDK and botocore read
// first) and as `__type` in the body, beside the `message` every App Mesh error has.

export const ERROR_STATUS = {
  BadRequestException: 400,
  LimitExceededException: 400,
  TooManyTagsException: 400,
  ForbiddenException: 403,
  NotFoundException: 404,
  ConflictException: 409,
  ResourceInUseException: 409,
  TooManyRequestsException: 429,
  InternalServerErrorException: 500,
  ServiceUnavailableException: 503,
  // Not in App Mesh's model: meshd's answers for a request no operation matches (AWS's generic name).
  UnknownOperationException: 404,
} as const;

export type ErrorType = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly type: ErrorType,
    message: string,
    /** Overrides the type's status: 405 for a known path with another method, 413 for a body too large. */
    status?: number,
    /** Extra answer headers (`Allow` with a 405). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = type;
    this.status = status ?? ERROR_STATUS[type];
  }
}

export function badRequest(message: string): ApiError {
  return new ApiError('BadRequestException', message);
}
