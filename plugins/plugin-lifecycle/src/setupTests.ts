import '@testing-library/jest-dom';
import { configure } from '@testing-library/react';

// findBy*/waitFor give up after 1 s by default; on a loaded CI machine a
// render with fake APIs can take longer than that. They still fail when the
// awaited state never comes, only later.
configure({ asyncUtilTimeout: 10_000 });
