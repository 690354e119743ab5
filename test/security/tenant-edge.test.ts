import { startStandalone } from '../helpers/cluster.js';
import { tenantEdgeScenarios } from './tenant-edge-scenarios.js';

/** The security probe's gateway and tenancy findings in one standalone process (file stores, memory bus). */
tenantEdgeScenarios('standalone', () => startStandalone());
