/**
 * RBAC's matching over the rules a SelfSubjectRulesReview returns: what the permission preflight
 * decides without asking one review per verb.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ruleGrants, verdictByRules } from '../../src/kube/rules.js';

describe('rules review verdicts', () => {
  const cm = { verb: 'update', resource: 'configmaps', name: 'kafka-consumer-state' };

  it('verbs, groups and resources match exactly or by *', () => {
    assert.ok(ruleGrants({ verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'] }, cm));
    assert.ok(ruleGrants({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, cm));
    assert.ok(!ruleGrants({ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }, cm), 'another verb');
    assert.ok(!ruleGrants({ verbs: ['update'], apiGroups: ['apps'], resources: ['configmaps'] }, cm), 'another group');
    const lease = { verb: 'update', resource: 'leases', group: 'coordination.k8s.io', name: 'l' };
    assert.ok(ruleGrants({ verbs: ['update'], apiGroups: ['coordination.k8s.io'], resources: ['leases'] }, lease));
    assert.ok(!ruleGrants({ verbs: ['update'], apiGroups: [''], resources: ['leases'] }, lease), 'leases are not in the core group');
  });

  it('subresources: exact, resource/* and */subresource; the parent resource alone does not grant them', () => {
    const proxy = { verb: 'create', resource: 'pods/proxy' };
    assert.ok(ruleGrants({ verbs: ['create'], apiGroups: [''], resources: ['pods/proxy'] }, proxy));
    assert.ok(ruleGrants({ verbs: ['create'], apiGroups: [''], resources: ['pods/*'] }, proxy));
    assert.ok(ruleGrants({ verbs: ['create'], apiGroups: [''], resources: ['*/proxy'] }, proxy));
    assert.ok(!ruleGrants({ verbs: ['create'], apiGroups: [''], resources: ['pods'] }, proxy));
  });

  it('resourceNames limit a rule to named objects; a request without a name is not covered', () => {
    const named = { verbs: ['get', 'update'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['kafka-consumer-state'] };
    assert.ok(ruleGrants(named, cm));
    assert.ok(!ruleGrants(named, { ...cm, name: 'other' }));
    assert.ok(!ruleGrants({ ...named, verbs: ['create'] }, { verb: 'create', resource: 'configmaps' }));
  });

  it('ungranted is denied when the review is complete, unknown when it is not', () => {
    assert.equal(verdictByRules({ resourceRules: [], incomplete: false }, cm), 'denied');
    assert.equal(verdictByRules({ resourceRules: [], incomplete: true }, cm), 'unknown');
    assert.equal(
      verdictByRules({ resourceRules: [{ verbs: ['*'], apiGroups: [''], resources: ['configmaps'] }], incomplete: true }, cm),
      'allowed',
    );
  });
});
