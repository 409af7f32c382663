// An independent verifier of what cmex issues, for TestIndependentVerifier:
// @digitalbazaar/vc with the eddsa-rdfc-2022 cryptosuite and the Bitstring
// Status List checker for Data Integrity credentials, and jose for the JWT
// form. It reads {"base": URL, "contexts": {URL: FILE}, "items": [{"name",
// "credential" | "jwt"}]} on stdin and prints one JSON result per item.
//
// The document loader serves only: the vendored contexts (files named in
// the input), the did:web of the cmex at base (its /.well-known/did.json),
// did:key, and the status lists cmex serves under base. Anything else is
// an error: nothing else is fetched.
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as jose from 'jose';

const input = JSON.parse(readFileSync(0, 'utf8'));
const base = input.base.replace(/\/$/, '');
const contexts = {};
for(const [url, file] of Object.entries(input.contexts)) {
  contexts[url] = JSON.parse(readFileSync(file, 'utf8'));
}
const MULTIKEY = 'https://w3id.org/security/multikey/v1';
const didWeb = 'did:web:' + new URL(base).host.replace(':', '%3A');

async function fetchJSON(url) {
  const res = await fetch(url);
  if(!res.ok) {
    throw new Error(`${url}: HTTP ${res.status}`);
  }
  return res.json();
}

async function resolveDID(did) {
  if(did === didWeb) {
    return fetchJSON(base + '/.well-known/did.json');
  }
  if(did.startsWith('did:key:z6Mk')) {
    const mb = did.slice('did:key:'.length);
    const vm = {id: `${did}#${mb}`, type: 'Multikey', controller: did, publicKeyMultibase: mb};
    return {'@context': ['https://www.w3.org/ns/did/v1', MULTIKEY], id: did,
      verificationMethod: [vm], assertionMethod: [vm.id]};
  }
  throw new Error(`cannot resolve ${did}`);
}

const documentLoader = async url => {
  if(contexts[url]) {
    return {contextUrl: null, documentUrl: url, document: contexts[url]};
  }
  if(url.startsWith('did:')) {
    const [did, fragment] = url.split('#');
    const doc = await resolveDID(did);
    if(!fragment) {
      return {contextUrl: null, documentUrl: url, document: doc};
    }
    const vm = doc.verificationMethod.find(m => m.id === url);
    if(!vm) {
      throw new Error(`${did} has no verification method ${url}`);
    }
    return {contextUrl: null, documentUrl: url, document: {'@context': MULTIKEY, ...vm}};
  }
  if(url.startsWith(base + '/credentials/status/')) {
    return {contextUrl: null, documentUrl: url, document: await fetchJSON(url)};
  }
  throw new Error(`the loader serves no ${url}`);
};

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});

async function verifyDI(credential) {
  const r = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
  const out = {verified: r.verified === true};
  if(r.error) {
    out.error = String(r.error.message || r.error) +
      (r.error.errors ? ': ' + r.error.errors.map(e => e.message).join('; ') : '');
  }
  if(r.statusResult) {
    out.statusVerified = r.statusResult.verified === true;
    out.revoked = (r.statusResult.results || []).some(s => s.status === true);
  }
  return out;
}

async function verifyJWT(jwt) {
  const header = jose.decodeProtectedHeader(jwt);
  const [did] = header.kid.split('#');
  const doc = await resolveDID(did);
  const vm = doc.verificationMethod.find(m => m.id === header.kid);
  if(!vm) {
    throw new Error(`no key ${header.kid} in the DID document`);
  }
  // The Multikey's raw public key, as a JWK.
  const key = await Ed25519Multikey.from({'@context': MULTIKEY, ...vm});
  const jwk = await Ed25519Multikey.toJwk({keyPair: key});
  const pub = await jose.importJWK({...jwk, alg: 'EdDSA'}, 'EdDSA');
  const {payload, protectedHeader} = await jose.compactVerify(jwt, pub, {algorithms: ['EdDSA']});
  const credential = JSON.parse(new TextDecoder().decode(payload));
  return {verified: protectedHeader.typ === 'vc+jwt', typ: protectedHeader.typ,
    issuer: credential.issuer.id, creditsEarned: credential.credentialSubject.creditsEarned};
}

const results = [];
for(const item of input.items) {
  let r;
  try {
    r = item.jwt ? await verifyJWT(item.jwt) : await verifyDI(item.credential);
  } catch(e) {
    r = {verified: false, error: String(e.message || e)};
  }
  results.push({name: item.name, ...r});
}
process.stdout.write(JSON.stringify(results, null, 2) + '\n');
