import {
  type AllowPolicy,
  authenticationOf,
  ClientCertError,
  type ClientPrincipal,
  type CompiledPolicy,
  compilePolicy,
} from '@clientcert/core'
import { createParamDecorator, type ExecutionContext } from '@nestjs/common'
import { ClientCertException } from './guard.js'
import { grpcCallOf, principalOf } from './request.js'
import { FASTIFY_ROUTE_CONFIG, OPTIONAL_METADATA, POLICY_METADATA } from './tokens.js'

type Target = object | (abstract new (...args: never[]) => unknown)

/**
 * Injects the authenticated client (`ClientPrincipal`, or undefined on an optional route).
 * Reads what the pre-parse stage stored; the guard has already failed closed without it.
 */
export const ClientCert = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): ClientPrincipal | undefined => {
    if (ctx.getType() === 'ws') return principalOf(ctx.switchToWs().getClient())
    if (ctx.getType() !== 'rpc') return principalOf(ctx.switchToHttp().getRequest())
    // gRPC: what ClientCertGuard stored on the call; without it, "not checked" must not read as anonymous.
    const mark = authenticationOf(grpcCallOf(ctx))
    if (mark === undefined)
      throw new ClientCertException(
        new ClientCertError(
          'ERR_CLIENT_CERT_MISCONFIGURED',
          '@ClientCert() on a gRPC handler that ClientCertGuard did not judge',
        ),
      )
    return mark.principal
  },
)

/**
 * Who may call a controller or a route, on top of the module's `allow`. The policy is
 * validated when the class is defined. It is enforced before the body is parsed (Fastify: in
 * `onRequest`; Express: from the route table of `installClientCert()`) and again by
 * `ClientCertGuard` (see docs/adapters/nestjs.md).
 */
export function AllowClients(policy: AllowPolicy): ClassDecorator & MethodDecorator {
  return ruleDecorator(POLICY_METADATA, compilePolicy(policy, '@AllowClients(policy)'))
}

/** Requests without a client certificate may reach this controller or route (`@ClientCert()` is then undefined). */
export function OptionalClientCert(): ClassDecorator & MethodDecorator {
  return ruleDecorator(OPTIONAL_METADATA, true)
}

/** Stores `value` on a method or a controller and refreshes the Fastify route config of the affected routes. */
function ruleDecorator(key: string, value: unknown): ClassDecorator & MethodDecorator {
  return (target: Target, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    if (descriptor?.value !== undefined) {
      Reflect.defineMetadata(key, value, descriptor.value)
      syncFastifyConfig(descriptor.value, (target as { constructor: Target }).constructor)
    } else {
      Reflect.defineMetadata(key, value, target)
      for (const method of routeMethods(target)) syncFastifyConfig(method, target)
    }
    return descriptor as never
  }
}

/**
 * The rule for a handler: class and method policies both apply. Optional follows the closest
 * decorator: the method's `@OptionalClientCert()`, else — when the method has a policy of its
 * own — required, else the controller's `@OptionalClientCert()`. A controller marked optional
 * must not turn a method's own policy into "anyone, or a client that passes it".
 */
export function ruleOf(
  handler: object,
  controller: object,
): { policies: CompiledPolicy[]; optional: boolean } {
  const methodPolicy = Reflect.getMetadata(POLICY_METADATA, handler) as CompiledPolicy | undefined
  const policies = [Reflect.getMetadata(POLICY_METADATA, controller), methodPolicy].filter(
    (p): p is CompiledPolicy => p !== undefined,
  )
  const optional =
    Reflect.getMetadata(OPTIONAL_METADATA, handler) === true ||
    (methodPolicy === undefined && Reflect.getMetadata(OPTIONAL_METADATA, controller) === true)
  return { policies, optional }
}

/**
 * Writes the rule into the route config @nestjs/platform-fastify hands to Fastify, where
 * @clientcert/fastify's onRoute/onRequest hooks enforce it before the body is parsed.
 * Existing `@RouteConfig()` values are kept.
 */
function syncFastifyConfig(handler: object, controller: Target): void {
  const { policies, optional } = ruleOf(handler, controller)
  const existing =
    (Reflect.getMetadata(FASTIFY_ROUTE_CONFIG, handler) as Record<string, unknown> | undefined) ?? {}
  const allow = policies.length === 0 ? undefined : policies.length === 1 ? policies[0] : { all: policies }
  const clientCert = { ...(allow ? { allow } : {}), ...(optional ? { optional: true } : {}) }
  Reflect.defineMetadata(FASTIFY_ROUTE_CONFIG, { ...existing, clientCert }, handler)
}

function routeMethods(controller: Target): object[] {
  const proto = (controller as { prototype?: object }).prototype
  if (proto === undefined) return []
  return Object.getOwnPropertyNames(proto)
    .filter((name) => name !== 'constructor')
    .map((name) => Object.getOwnPropertyDescriptor(proto, name)?.value as unknown)
    .filter((fn): fn is object => typeof fn === 'function')
}
