/**
 * Decides permission checks from one SelfSubjectRulesReview (the rules the API server says apply to
 * these credentials in a namespace), with RBAC's matching: `*` for verbs, groups and resources,
 * `resource/*` and `*\/subresource` for subresources, and resourceNames limiting a rule to named
 * objects (a request without a name, like create or list, is not covered by such a rule).
 *
 * Guarantees: a check is `allowed` only when a rule grants it. When the review is incomplete (an
 * authorizer that cannot list rules, e.g. a webhook) a check no rule grants is `unknown`, for the
 * caller to ask about one by one; otherwise it is `denied`.
 */
import type { PermissionCheck } from '../core/ports.js';

export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

export interface RulesReviewStatus {
  resourceRules?: ResourceRule[];
  incomplete?: boolean;
}

function resourceMatches(ruleResource: string, requested: string): boolean {
  if (ruleResource === '*' || ruleResource === requested) return true;
  const [resource, subresource] = requested.split('/');
  if (subresource === undefined) return false;
  return ruleResource === `*/${subresource}` || ruleResource === `${resource}/*`;
}

export function ruleGrants(rule: ResourceRule, check: PermissionCheck): boolean {
  const group = check.group ?? '';
  if (!rule.verbs.some((verb) => verb === '*' || verb === check.verb)) return false;
  if (!(rule.apiGroups ?? []).some((ruleGroup) => ruleGroup === '*' || ruleGroup === group)) return false;
  if (!(rule.resources ?? []).some((resource) => resourceMatches(resource, check.resource))) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (check.name !== undefined && names.includes(check.name));
}

export type RuleVerdict = 'allowed' | 'denied' | 'unknown';

export function verdictByRules(status: RulesReviewStatus, check: PermissionCheck): RuleVerdict {
  if ((status.resourceRules ?? []).some((rule) => ruleGrants(rule, check))) return 'allowed';
  return status.incomplete ? 'unknown' : 'denied';
}
