import { useState } from 'react';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { AvailableVersions } from '@internal/plugin-lifecycle-common';
import { VersionField } from './VersionField';

const versions: AvailableVersions = {
  pluginId: 'p',
  source: 'npm',
  currentVersion: '1.0.0',
  items: [
    { version: '1.1.0', current: false, installed: false },
    { version: '1.0.1', current: false, installed: true },
    { version: '1.0.0', current: true, installed: true },
  ],
};

function Harness(props: { versions?: AvailableVersions; seen: string[] }) {
  const [value, setValue] = useState('');
  return (
    <VersionField
      id="v"
      label="Target version"
      value={value}
      onChange={next => {
        props.seen.push(next);
        setValue(next);
      }}
      versions={props.versions}
      helperText="a hint"
    />
  );
}

describe('VersionField', () => {
  it('offers the versions newest first with the current and installed ones marked, and takes a pick', () => {
    const seen: string[] = [];
    render(<Harness versions={versions} seen={seen} />);
    const field = screen.getByRole('textbox', { name: 'Target version' });
    fireEvent.mouseDown(field);
    fireEvent.keyDown(field, { key: 'ArrowDown' });
    const options = within(screen.getByRole('listbox')).getAllByRole('option');
    expect(options.map(o => o.textContent)).toEqual([
      '1.1.0',
      '1.0.1 (installed)',
      '1.0.0 (current)',
    ]);
    fireEvent.click(options[0]);
    expect(field).toHaveValue('1.1.0');
    expect(seen.at(-1)).toBe('1.1.0');
    expect(screen.getByText('a hint')).toBeInTheDocument();
  });

  it('takes free text, with or without versions to offer', () => {
    const seen: string[] = [];
    render(<Harness seen={seen} />);
    const field = screen.getByRole('textbox', { name: 'Target version' });
    fireEvent.change(field, { target: { value: '3.0.0-rc.1' } });
    expect(field).toHaveValue('3.0.0-rc.1');
    expect(seen).toEqual(['3.0.0-rc.1']);
  });
});
