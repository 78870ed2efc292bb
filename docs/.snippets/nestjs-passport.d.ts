// biome-ignore-all lint/suspicious/noExplicitAny: these are @nestjs/passport's own signatures
// @nestjs/passport is not a dependency of this repository. These are the parts of its public API
// (v11) the docs use, with its own signatures, so that the blocks using it are still type-checked.
declare module '@nestjs/passport' {
  import type { CanActivate, ExecutionContext } from '@nestjs/common'

  type Type<T = any> = new (...args: any[]) => T

  export function PassportStrategy<T extends Type<any>>(
    Strategy: T,
    name?: string,
    callbackArity?: true | number,
  ): abstract new (
    ...args: any[]
  ) => InstanceType<T>

  export interface IAuthGuard extends CanActivate {
    canActivate(context: ExecutionContext): Promise<boolean> | boolean
    handleRequest<TUser = any>(err: any, user: any, info: any, context: ExecutionContext, status?: any): TUser
  }
  export function AuthGuard(type?: string | string[]): Type<IAuthGuard>
}
