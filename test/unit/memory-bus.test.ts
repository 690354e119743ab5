import { MemoryBus } from '../../bus/memory-bus.js';
import { busContract } from '../contracts/bus-contract.js';

busContract('MemoryBus', (prefix) => new MemoryBus({ prefix }));
