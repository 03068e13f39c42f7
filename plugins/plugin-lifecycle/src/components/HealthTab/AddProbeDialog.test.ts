import { ProbeDefinition } from '@internal/plugin-lifecycle-common';
import { probeFromForm, probeName } from './AddProbeDialog';

const form = {
  type: 'readiness' as const,
  method: 'http' as const,
  path: '/health',
  service: '',
  port: '',
  periodSeconds: '10',
};

const probe = (name: string): ProbeDefinition => ({
  name,
  type: 'readiness',
  method: 'tcp',
});

describe('the probe of the add-probe form', () => {
  it('is named after its type, unless a probe has that name', () => {
    expect(probeName([], 'liveness', 'http')).toBe('liveness');
    expect(probeName([probe('liveness')], 'liveness', 'http')).toBe(
      'liveness-http',
    );
    expect(
      probeName(
        [probe('liveness'), probe('liveness-http'), probe('liveness-http-2')],
        'liveness',
        'http',
      ),
    ).toBe('liveness-http-3');
  });

  it('carries the settings of its check only', () => {
    expect(probeFromForm({ ...form, port: '8080' }, []).probe).toEqual({
      name: 'readiness',
      type: 'readiness',
      method: 'http',
      http: { path: '/health', port: 8080 },
      periodSeconds: 10,
    });
    expect(
      probeFromForm({ ...form, method: 'grpc', service: ' echo ' }, []).probe,
    ).toEqual({
      name: 'readiness',
      type: 'readiness',
      method: 'grpc',
      grpc: { service: 'echo' },
      periodSeconds: 10,
    });
    expect(probeFromForm({ ...form, method: 'tcp' }, []).probe).toMatchObject({
      method: 'tcp',
      tcp: {},
    });
  });

  it('says what is wrong, field by field', () => {
    const { probe: none, errors } = probeFromForm(
      { ...form, path: 'health', port: '70000', periodSeconds: 'often' },
      [],
    );
    expect(none).toBeUndefined();
    expect(Object.keys(errors).sort()).toEqual([
      'path',
      'periodSeconds',
      'port',
    ]);
    // A path matters only to an HTTP check.
    expect(
      probeFromForm({ ...form, method: 'tcp', path: '' }, []).errors,
    ).toEqual({});
  });
});
