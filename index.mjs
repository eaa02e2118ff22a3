// ESM entry: the CommonJS constructor (index.js) as the default export, and as `RPC`.
import RPC from './index.js'

export { RPC }
export default RPC
