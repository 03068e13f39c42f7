import { defaultDraft, UpdateDraft } from './draft';
import { parseServerErrors, placeErrors } from './errors';
import { fieldPaths, toUpdateRequest } from './toRequest';

function canary(patch: Partial<UpdateDraft['canary']> = {}): UpdateDraft {
  const d = defaultDraft('1.1.0');
  return { ...d, strategy: 'canary', canary: { ...d.canary, ...patch } };
}

describe('toUpdateRequest', () => {
  it('sends the default rolling update with its settings', () => {
    expect(toUpdateRequest(defaultDraft('1.1.0'))).toEqual({
      request: {
        version: '1.1.0',
        deploymentStrategy: 'rolling',
        deploymentConfig: {
          rolling: {
            maxSurge: 1,
            maxUnavailable: 0,
            minReadySeconds: 0,
            progressDeadlineSeconds: 600,
          },
        },
      },
    });
  });

  it('turns canary steps into the API shape, seconds into ms, an empty pause into until-promoted', () => {
    const draft = canary({
      steps: [
        { kind: 'setWeight', weight: '20' },
        { kind: 'pause', seconds: '' },
        {
          kind: 'analysis',
          seconds: '1.5',
          analysis: {
            ...defaultDraft().canary.analysis,
            minRequests: '5',
            maxLatencyP99Ms: '',
          },
        },
        { kind: 'setWeight', weight: '100' },
      ],
    });
    draft.approvals.beforePromotion = {
      enabled: true,
      timeoutSeconds: '60',
      onTimeout: 'reject',
    };
    expect(toUpdateRequest(draft).request).toEqual({
      version: '1.1.0',
      deploymentStrategy: 'canary',
      deploymentConfig: {
        canary: {
          autoPromote: true,
          canaryReplicas: 1,
          steps: [
            { setWeight: 20 },
            { pause: {} },
            {
              analysis: {
                duration: 1500,
                minRequests: 5,
                successThreshold: 99,
                errorThreshold: 1,
                maxExtensions: 3,
                onInsufficientData: 'fail',
              },
            },
            { setWeight: 100 },
          ],
        },
        approvals: {
          beforePromotion: { timeoutMs: 60_000, onTimeout: 'reject' },
        },
      },
    });
  });

  it('names each problem by its field: the schemas of -common and the form reading', () => {
    const draft = canary({
      steps: [
        { kind: 'setWeight', weight: '150' },
        { kind: 'pause', seconds: 'soon' },
        { kind: 'setWeight', weight: '50' },
      ],
    });
    draft.version = 'latest';
    expect(toUpdateRequest(draft).errors).toEqual({
      version: 'must be a semantic version such as 1.2.3',
      'deploymentConfig.canary.steps.0.setWeight': expect.stringMatching(/100/),
      'deploymentConfig.canary.steps.1.pause.duration': 'must be a number',
      'deploymentConfig.canary.steps': 'the step list never reaches weight 100',
    });
  });

  it('requires the A/B match fields that the chosen routing needs', () => {
    const d = defaultDraft('1.1.0');
    const draft: UpdateDraft = {
      ...d,
      strategy: 'a-b-testing',
      abTesting: {
        ...d.abTesting,
        by: 'header',
        name: 'x user',
        value: 'beta',
      },
    };
    expect(toUpdateRequest(draft).errors).toEqual({
      'deploymentConfig.abTesting.match.header.name':
        'must be an HTTP header name',
    });
  });
});

describe('parseServerErrors', () => {
  it('reads the fields a 400 names, and keeps the rest', () => {
    expect(
      parseServerErrors(
        'Invalid body: deploymentConfig.rolling: maxSurge and maxUnavailable cannot both be 0 (with 1 replicas); version: must be a semantic version such as 1.2.3',
      ),
    ).toEqual({
      fields: {
        'deploymentConfig.rolling':
          'maxSurge and maxUnavailable cannot both be 0 (with 1 replicas)',
        version: 'must be a semantic version such as 1.2.3',
      },
      rest: [],
    });
    expect(
      parseServerErrors('Version 9.9.9 of sample-http-service was not found'),
    ).toEqual({
      fields: {},
      rest: ['Version 9.9.9 of sample-http-service was not found'],
    });
  });
});

describe('placeErrors', () => {
  it('shows an error at its field, at the nearest shown group, or with the general ones', () => {
    const shown = fieldPaths(canary());
    expect(shown).toContain('deploymentConfig.canary.steps.0.setWeight');
    expect(
      placeErrors(
        {
          'deploymentConfig.canary.steps.0.setWeight': 'too big',
          'deploymentConfig.canary.steps.9.foo': 'odd',
          tenant: 'unknown',
        },
        shown,
      ),
    ).toEqual({
      'deploymentConfig.canary.steps.0.setWeight': ['too big'],
      'deploymentConfig.canary.steps': ['9.foo: odd'],
      '': ['tenant: unknown'],
    });
  });
});
