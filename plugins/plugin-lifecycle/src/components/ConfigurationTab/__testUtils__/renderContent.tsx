import { screen, within } from '@testing-library/react';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { SWRConfig } from 'swr';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { PluginLifecycleApi, pluginLifecycleApiRef } from '../../../api';
import { EntityConfigurationContent } from '../EntityConfigurationContent';
import { entity } from '../__fixtures__/configuration';

/** A permission API that allows everything but the permissions named. */
function permissionsExcept(denied: string[]) {
  return mockApis.permission({
    authorize: request =>
      denied.includes(request.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
}

export function renderContent(api: PluginLifecycleApi, denied: string[] = []) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [pluginLifecycleApiRef, api],
        [permissionApiRef, permissionsExcept(denied)],
      ]}
    >
      {/* A fresh cache of permission decisions for each render. */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={entity}>
          <EntityConfigurationContent />
        </EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
  );
}

/** The editor row at a position. */
export function editorRow(index: number) {
  return within(screen.getByTestId(`config-entry-row-${index}`));
}
