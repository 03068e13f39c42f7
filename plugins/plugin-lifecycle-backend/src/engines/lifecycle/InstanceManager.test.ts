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
});
