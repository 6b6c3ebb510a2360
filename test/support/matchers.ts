/**
 * cdktf's jest matchers (toHaveResourceWithProperties, ...): registered here, and their types, a global
 * augmentation of jest.Matchers, brought into the program by the type-only import. Import for its effect.
 */
import type {} from 'cdktf/lib/testing/adapters/jest';
import { Testing } from 'cdktf';

Testing.setupJest();
