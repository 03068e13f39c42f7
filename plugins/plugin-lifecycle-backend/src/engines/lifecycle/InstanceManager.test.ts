import { instanceResources } from '../../domain/orchestration/quotas';
import { runtimeResources } from './InstanceManager';

describe('runtimeResources', () => {
  it("gives a cluster runtime the manifest's request as Kubernetes quantities", () => {
    expect(
      runtimeResources({
        manifest: { resources: { cpu: '0.5', memory: '1Gi' } },
      } as any),
    ).toEqual({ cpu: '500m', memory: '1024Mi' });
    expect(
      runtimeResources({ manifest: { resources: { memory: '256Mi' } } } as any),
    ).toEqual({ cpu: undefined, memory: '256Mi' });
  });

  it('asks for nothing without a request or with one that does not parse', () => {
    expect(runtimeResources({ manifest: {} } as any)).toBeUndefined();
    expect(runtimeResources({} as any)).toBeUndefined();
    expect(
      runtimeResources({ manifest: { resources: { cpu: 'lots' } } } as any),
    ).toBeUndefined();
  });

  it("caps the request by the operator's size, which also counts when the manifest asks for nothing", () => {
    const capped = (requested?: { cpu?: string; memory?: string }) =>
      instanceResources(requested, { cpu: '250m', memory: '128Mi' });
    expect(
      runtimeResources(
        { manifest: { resources: { cpu: '2', memory: '64Mi' } } } as any,
        capped,
      ),
    ).toEqual({ cpu: '250m', memory: '64Mi' });
    expect(runtimeResources({ manifest: {} } as any, capped)).toEqual({
      cpu: '250m',
      memory: '128Mi',
    });
  });
});
