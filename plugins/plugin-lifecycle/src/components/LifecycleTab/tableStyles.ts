import { TableColumn } from '@backstage/core-components';

/**
 * A table column whose header and cells keep to one line ("succeeded", not
 * "succeede/d") and stay at least `minWidth` px wide; a narrow window
 * scrolls the table sideways instead of crushing it.
 */
export function column<T extends object>(
  spec: TableColumn<T> & { minWidth: number; wrap?: boolean },
): TableColumn<T> {
  const { minWidth, wrap, ...rest } = spec;
  return {
    ...rest,
    headerStyle: { whiteSpace: 'nowrap', minWidth, ...rest.headerStyle },
    cellStyle: {
      minWidth,
      ...(wrap ? {} : { whiteSpace: 'nowrap' }),
      ...(rest.cellStyle as object | undefined),
    },
  };
}
