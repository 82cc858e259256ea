/**
 * Files both wings' pages use (the live-streams dashboard and the commerce page): one stylesheet
 * and one icon, so the two pages share a design without either wing importing the other.
 */
import { fileURLToPath } from 'node:url';

/** The shared stylesheet, served by each page under its own hashed asset URL. */
export const SHARED_STYLESHEET = fileURLToPath(new URL('./public/rtsa.css', import.meta.url));
export const SHARED_FAVICON = fileURLToPath(new URL('./public/favicon.svg', import.meta.url));
